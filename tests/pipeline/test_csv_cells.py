"""Every CSV dxcoder writes keeps one row per record and is safe to open in a spreadsheet.

A carriage return inside a cell used to be written bare: a reader saw a new row there, and the
cell after it started a row of its own, where a leading `=` or `@` escaped the formula guard.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import submitted_export
from worker import db
from worker.csvcells import FORMULA_START
from worker.models import InputLine, Job, RecodeRun, ResultHistory
from worker.models import Result as ResultRow
from worker.pipeline import claims as claims_module
from worker.pipeline import export, results
from worker.recode.report import write_report


def _unsafe(cell: str) -> bool:
    """A cell a spreadsheet would run as a formula."""
    return cell.lstrip(" \n").startswith(FORMULA_START)


def _read_back(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert not [cell for row in rows for cell in row if _unsafe(cell)], text
    return rows


def _stage(job_id: str) -> None:
    lines = [("C1\r=cmd|x", "I10\r@SUM(A1)", {"=payer": "AETNA\r=HYPERLINK(1)", "plan": " =1+1"}),
             ("C2", "E11.9", {"=payer": "\r-2", "plan": "PPO"}),
             ("C3", "J45.909", {"=payer": "BCBS", "plan": "  @x"})]
    with db.session_scope() as session:
        session.add(Job(id=job_id, name="cr", content_hash="0" * 64, format="csv", status="done",
                        total_lines=len(lines)))
        session.flush()
        for line_no, (entry_id, term, extra) in enumerate(lines, 1):
            session.add(InputLine(job_id=job_id, line_no=line_no, entry_id=entry_id, term=term,
                                  extra=json.dumps(extra)))
            session.add(ResultRow(job_id=job_id, line_no=line_no, entry_id=entry_id, input=term,
                                  status="invalid_input", message="line 2: has\ra break"))


def test_results_and_claims_csv_quote_cr_and_guard_every_cell(any_db_url: str) -> None:
    _stage("crjob0001")
    out = io.StringIO()
    assert export.export_results("crjob0001", out, "csv") == 3
    rows = _read_back(out.getvalue())
    assert len(rows) == 1 + 3  # the header and one row per line, whatever the cells hold
    assert rows[0][-2:] == ["'=payer", "plan"]  # a pass-through column's name is a cell too
    assert [row[1] for row in rows[1:]] == ["C1\r=cmd|x", "C2", "C3"]
    assert rows[1][2] == "I10\r@SUM(A1)"
    assert [row[-2] for row in rows[1:]] == ["AETNA\r=HYPERLINK(1)", "'\r-2", "BCBS"]
    assert [row[-1] for row in rows[1:]] == ["' =1+1", "PPO", "'  @x"]
    assert rows[1][results.contract.RESULT_FIELDS.index("message")] == "line 2: has\ra break"

    out = io.StringIO()
    assert claims_module.write_claim_results("crjob0001", out, "csv") == 3
    claims = _read_back(out.getvalue())
    assert len(claims) == 1 + 3
    assert [row[0] for row in claims[1:]] == ["C1\r=cmd|x", "C2", "C3"]


def test_the_recode_report_quotes_cr_and_guards_cells(any_db_url: str) -> None:
    with db.session_scope() as session:
        session.add(Job(id="crjob0002", name="cr", content_hash="0" * 64, status="done"))
        session.add(RecodeRun(id="run0001"))
        session.flush()
        session.add(ResultHistory(run_id="run0001", job_id="crjob0002", line_no=1,
                                  change="expanded", old_status="resolved", old_code="E11.9",
                                  new_status="needs_review", new_code="",
                                  new_alternatives="E11.65\r=E11.69|@E11.8"))
    out = io.StringIO()
    assert write_report("run0001", out) == 1
    rows = _read_back(out.getvalue())
    assert len(rows) == 2
    assert rows[1][-1] == "E11.65\r=E11.69|@E11.8"


_CR_CSV = ('id,term,payer\r\n'
           'A1,E11.9,"AETNA\r=HYPERLINK(""x"")"\r\n'
           'A2,"I10\r@cmd",BCBS\r\n'
           'A3,I10,"\r-1"\r\n')


def test_run_and_submit_write_the_same_safe_rows_for_cells_with_cr(
        pipeline: PipelineEnv, sqlite_url: str, tmp_path: Path) -> None:
    """The embedded run's workers render the rows themselves; the distributed export reads
    them back from PostgreSQL: both write the same bytes, one row per input line."""
    source = tmp_path / "cr.csv"
    source.write_bytes(_CR_CSV.encode())
    embedded = tmp_path / "embedded.csv"
    done = run_dxcoder("run", str(source), "-o", str(embedded), "--quiet", "--processes", "2",
                       database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"job (\w+) done", done.stdout).group(1)  # type: ignore[union-attr]
    export = tmp_path / "export.csv"
    done = run_dxcoder("results", job_id, "-o", str(export), database_url=sqlite_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert embedded.read_bytes() == export.read_bytes()

    pipeline.start_worker()
    assert submitted_export(pipeline, source, tmp_path / "distributed.csv") == \
        embedded.read_bytes()

    rows = _read_back(embedded.read_bytes().decode("utf-8"))
    assert len(rows) == 1 + 3
    by_id = {row[1]: row for row in rows[1:]}
    assert by_id["A1"][-1] == "AETNA\r=HYPERLINK(\"x\")"
    assert by_id["A2"][2] == "I10\r@cmd" and by_id["A2"][3] == "invalid_input"
    assert by_id["A3"][-1] == "'\r-1"
