"""Exporting a job's results: columns, order, spreadsheet-safe cells and JSONL, page after page."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from worker import contract, db
from worker.models import InputLine, Job
from worker.models import Result as ResultRow
from worker.pipeline import export, results

# (entry id, input, description, confidence, extra): formulas in ids, text and pass-through
# cells, text that is not ASCII, a line without pass-through columns and one with a column of
# its own, ids the CSV must quote, and lines that differ only in their id and pass-through cells
# (the export writes each distinct input-and-outcome once and reuses it).
LINES = [
    ("C1", "E11.9", "Type 2 diabetes mellitus without complications", 0.99, {"payer": "AETNA"}),
    ("=1+2", "=HYPERLINK(\"x\")", "", 0.0, {"payer": "+1", "note": "=SUM(A1)"}),
    ("C,3", "naïve café ✓", "Ünïcode, \"quoted\"", 0.123456, {}),
    ("C\n4", "-5 mg", "line\nbreak", 1 / 3, {"payer": "BCBS", "member": "@M-1"}),
    ("-5", "I10", "Essential (primary) hypertension", 0.925, {"payer": "AETNA"}),
    ("C6", "asthma", "Unspecified asthma", 0.7, {"payer": "AETNA"}),
    ("C7", "I10", "Essential (primary) hypertension", 0.925, {"payer": "CIGNA"}),
]


def _stage(job_id: str) -> None:
    with db.session_scope() as session:
        session.add(Job(id=job_id, name="export", content_hash="0" * 64, format="jsonl",
                        status="done", total_lines=len(LINES)))
        session.flush()
        for line_no, (entry_id, term, description, confidence, extra) in enumerate(LINES, 1):
            session.add(InputLine(job_id=job_id, line_no=line_no, entry_id=entry_id,
                                  term=term, extra=json.dumps(extra) if extra else ""))
            session.add(ResultRow(job_id=job_id, line_no=line_no, entry_id=entry_id,
                                  input=term, status="resolved", code="X", method="exact",
                                  description=description, confidence=confidence,
                                  code_set="FY2026"))


def test_export_is_safe_ordered_and_complete_across_pages(
        any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "_STREAM_BATCH", 2)  # six lines make three pages
    _stage("exportjob0001")

    out = io.StringIO()
    assert export.export_results("exportjob0001", out, "csv") == len(LINES)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [*contract.RESULT_FIELDS, "payer", "note", "member"]
    assert [r["line_no"] for r in rows] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [r["id"] for r in rows] == ["C1", "'=1+2", "C,3", "C\n4", "'-5", "C6", "C7"]
    assert [r["input"] for r in rows] == ["E11.9", "'=HYPERLINK(\"x\")", "naïve café ✓",
                                         "'-5 mg", "I10", "asthma", "I10"]
    assert (rows[1]["payer"], rows[1]["note"], rows[3]["member"]) == ("'+1", "'=SUM(A1)", "'@M-1")
    assert (rows[2]["payer"], rows[2]["description"]) == ("", "Ünïcode, \"quoted\"")
    assert (rows[4]["payer"], rows[6]["payer"]) == ("AETNA", "CIGNA")
    assert rows[6]["description"] == rows[4]["description"] == "Essential (primary) hypertension"
    assert [r["confidence"] for r in rows] == ["0.99", "0.0", "0.1235", "0.3333", "0.925",
                                          "0.7", "0.925"]

    out = io.StringIO()
    assert export.export_results("exportjob0001", out, "jsonl") == len(LINES)
    lines = out.getvalue().splitlines()
    records = list(results.iter_results("exportjob0001"))
    # Each line is exactly what json.dumps writes for the record, pass-through under "extra".
    assert lines == [json.dumps(record, ensure_ascii=False) for record in records]
    assert [list(json.loads(line)) for line in lines[1:3]] == [
        [*contract.RESULT_FIELDS, "extra"], list(contract.RESULT_FIELDS)]
    assert json.loads(lines[3])["extra"] == {"payer": "BCBS", "member": "@M-1"}
    assert [line.split('"confidence": ')[1].split(",")[0] for line in lines] == [
        "0.99", "0.0", "0.1235", "0.3333", "0.925", "0.7", "0.925"]


def test_a_result_rendered_from_memory_is_written_as_the_export_writes_it() -> None:
    """`dxcoder run` renders results before any database has stored them: a negative zero
    (which neither database gives back) is written as the zero the export would write, whether
    or not a positive zero with the same outcome came first."""
    def row(line_no: int, confidence: float) -> tuple[object, ...]:
        return (line_no, f"C{line_no}", "xyz", "no_match", "", "", "fuzzy", confidence, "", "",
                "no term is close", None, '{"payer": "AETNA"}')

    for first in (0.0, -0.0):
        rows = [row(1, first), row(2, -0.0)]
        text = export.ResultFormat("csv", ["payer"]).render(rows)
        assert [r[7] for r in csv.reader(io.StringIO(text))] == ["0.0", "0.0"]
        lines = export.ResultFormat("jsonl").render(rows).splitlines()
        assert [json.loads(line)["confidence"] for line in lines] == [0.0, 0.0]
        assert all('"confidence": 0.0,' in line for line in lines)


def test_an_export_that_fails_leaves_the_output_file_as_it_was(
        sqlite_url: str, tmp_path: Path) -> None:
    """`results -o FILE` writes all or nothing: a failed export neither truncates FILE nor leaves
    a part of it (nor its temporary) that could pass for a whole one."""
    _stage("exportjob0002")
    out = tmp_path / "results.csv"
    out.write_text("yesterday's results\n")
    done = run_dxcoder("results", "nosuchjob", "-o", str(out), database_url=sqlite_url,
                       data_dir=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("dxcoder: error: ")
    assert "nosuchjob" in done.stderr
    assert out.read_text() == "yesterday's results\n"
    assert sorted(p.name for p in tmp_path.glob("*results.csv*")) == ["results.csv"]

    done = run_dxcoder("results", "exportjob0002", "-o", str(out), database_url=sqlite_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"{len(LINES):,} results -> {out}"
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == len(LINES)
