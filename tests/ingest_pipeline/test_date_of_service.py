"""Every result carries the date of service it was resolved for, in every format and mode.

The date (and the system column) used to be dropped from the results, though the README said
the other columns pass through: a results file could not tell which date a code was valid on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sqlalchemy import select

from tests.clitools import cli, run_dxcoder
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import X12_837P
from worker import db
from worker.models import Result as ResultRow

_CSV = ("id,dx,dos,system,payer\n"
        "A1,E11.9,2025-03-01,icd10cm,AETNA\n"
        "A2,250.00,06/01/2015,ICD-9-CM,BCBS\n"
        "A3,I10,20240215,,AETNA\n"
        "A4,I10,,auto,AETNA\n"
        "A5,I10,2025-02-30,auto,AETNA\n")
_DATES = ["2025-03-01", "2015-06-01", "2024-02-15", "", ""]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_run_and_submit_carry_the_date_of_service_in_csv_jsonl_and_the_database(
        sqlite_url: str, pipeline: PipelineEnv, tmp_path: Path) -> None:
    # sqlite_url first: the pipeline's PostgreSQL is then this process's database.
    source = tmp_path / "claims.csv"
    source.write_text(_CSV)
    embedded = tmp_path / "embedded.csv"
    done = run_dxcoder("run", str(source), "-o", str(embedded), "--quiet", "--processes", "2",
                       database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"job (\w+) done", done.stdout).group(1)  # type: ignore[union-attr]
    rows = _rows(embedded.read_text())
    assert [r["date_of_service"] for r in rows] == _DATES
    assert [r["system"] for r in rows] == ["icd10cm", "ICD-9-CM", "", "auto", "auto"]
    assert rows[1]["code"] == "E11.9"  # 250.00 through the GEMs, for its 2015 date
    assert rows[4]["status"] == "invalid_input"  # not a real date: no date to resolve for
    jsonl = run_dxcoder("results", job_id, "--output-format", "jsonl", database_url=sqlite_url,
                        data_dir=tmp_path)
    assert jsonl.returncode == 0, jsonl.stderr
    assert [json.loads(line)["date_of_service"] for line in jsonl.stdout.splitlines()] == [
        d or None for d in _DATES]

    pipeline.start_worker()
    submitted = cli(pipeline, "submit", str(source), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    distributed_job = submitted.stdout.strip().splitlines()[-1]
    distributed = tmp_path / "distributed.csv"
    exported = cli(pipeline, "results", distributed_job, "-o", str(distributed))
    assert exported.returncode == 0, exported.stderr
    assert distributed.read_bytes() == embedded.read_bytes()
    exported = cli(pipeline, "results", distributed_job, "--output-format", "jsonl")
    assert exported.stdout == jsonl.stdout
    with db.session_scope() as session:  # the database's own result rows carry it too
        stored = session.scalars(select(ResultRow.date_of_service)
                                 .where(ResultRow.job_id == distributed_job)
                                 .order_by(ResultRow.line_no)).all()
    assert [d.isoformat() if d else "" for d in stored] == _DATES


def test_x12_results_take_the_date_from_the_claim_or_its_service_line(
        pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    submitted = cli(pipeline, "submit", str(X12_837P), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    rows = _rows(cli(pipeline, "results", submitted.stdout.strip().splitlines()[-1]).stdout)
    by_claim = {r["claim_id"]: r["date_of_service"] for r in rows}
    # PATIENT1: no claim-level DTP, its first service line's DTP*472; PATIENT2: the claim's
    # own DTP*472; PATIENT3: none at all.
    assert by_claim == {"PATIENT1-CLM": "2024-01-05", "PATIENT2-CLM": "2015-09-10",
                        "PATIENT3-CLM": ""}
