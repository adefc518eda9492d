"""Exporting a job's results: columns, order, spreadsheet-safe cells and JSONL, page after page."""

from __future__ import annotations

import csv
import io
import json

import pytest

from worker import contract, db
from worker.models import InputLine, Job
from worker.models import Result as ResultRow
from worker.pipeline import results

# (input, description, confidence, extra): formulas in text and pass-through cells, text
# that is not ASCII, a line without pass-through columns and one with a column of its own.
LINES = [
    ("E11.9", "Type 2 diabetes mellitus without complications", 0.99, {"payer": "AETNA"}),
    ("=HYPERLINK(\"x\")", "", 0.0, {"payer": "+1", "note": "=SUM(A1)"}),
    ("naïve café ✓", "Ünïcode, \"quoted\"", 0.123456, {}),
    ("-5 mg", "line\nbreak", 1 / 3, {"payer": "BCBS", "member": "@M-1"}),
    ("I10", "Essential (primary) hypertension", 0.925, {"payer": "AETNA"}),
    ("asthma", "Unspecified asthma", 0.7, {"payer": "AETNA"}),
]


def _stage(job_id: str) -> None:
    with db.session_scope() as session:
        session.add(Job(id=job_id, name="export", content_hash="0" * 64, format="jsonl",
                        status="done", total_lines=len(LINES)))
        session.flush()
        for line_no, (term, description, confidence, extra) in enumerate(LINES, start=1):
            session.add(InputLine(job_id=job_id, line_no=line_no, entry_id=f"C{line_no}",
                                  term=term, extra=json.dumps(extra) if extra else ""))
            session.add(ResultRow(job_id=job_id, line_no=line_no, entry_id=f"C{line_no}",
                                  input=term, status="resolved", code="X", method="exact",
                                  description=description, confidence=confidence,
                                  code_set="FY2026"))


def test_export_is_safe_ordered_and_complete_across_pages(
        any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "_STREAM_BATCH", 2)  # six lines make three pages
    _stage("exportjob0001")

    out = io.StringIO()
    assert results.write_results("exportjob0001", out, "csv") == len(LINES)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [*contract.RESULT_FIELDS, "payer", "note", "member"]
    assert [r["line_no"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [r["input"] for r in rows] == ["E11.9", "'=HYPERLINK(\"x\")", "naïve café ✓",
                                         "'-5 mg", "I10", "asthma"]
    assert (rows[1]["payer"], rows[1]["note"], rows[3]["member"]) == ("'+1", "'=SUM(A1)", "'@M-1")
    assert (rows[2]["payer"], rows[2]["description"]) == ("", "Ünïcode, \"quoted\"")
    assert [r["confidence"] for r in rows] == ["0.99", "0.0", "0.1235", "0.3333", "0.925",
                                          "0.7"]

    out = io.StringIO()
    assert results.write_results("exportjob0001", out, "jsonl") == len(LINES)
    lines = out.getvalue().splitlines()
    records = list(results.iter_results("exportjob0001"))
    # Each line is exactly what json.dumps writes for the record, pass-through under "extra".
    assert lines == [json.dumps(record, ensure_ascii=False) for record in records]
    assert [list(json.loads(line)) for line in lines[1:3]] == [
        [*contract.RESULT_FIELDS, "extra"], list(contract.RESULT_FIELDS)]
    assert json.loads(lines[3])["extra"] == {"payer": "BCBS", "member": "@M-1"}
    assert [line.split('"confidence": ')[1].split(",")[0] for line in lines] == [
        "0.99", "0.0", "0.1235", "0.3333", "0.925", "0.7"]
