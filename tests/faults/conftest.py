"""Fault-suite fixtures: a multi-chunk claims file and what a clean run makes of it."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.generate_claims import rows as claim_rows
from tests.conftest import use_database
from worker import db
from worker.models import Job
from worker.models import Result as ResultRow

Expected = dict[int, tuple[str, str]]


def write_claims(path: Path, lines: int, seed: int, extra: list[list[str]] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "term", "system", "date_of_service", "payer"])
        writer.writerows(claim_rows(lines, seed))
        writer.writerows(extra or [])
    return path


@pytest.fixture(scope="session")
def fault_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_claims(tmp_path_factory.mktemp("faults") / "claims.csv", 3000, seed=5)


@pytest.fixture(scope="session")
def clean_results(fault_file: Path, sqlite_template: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Expected:
    """Status and code of every line after an undisturbed run (embedded, same chunk code)."""
    import shutil

    from worker.pipeline.embedded import run_file

    directory = tmp_path_factory.mktemp("clean")
    shutil.copyfile(sqlite_template, directory / "dx.sqlite3")
    use_database(f"sqlite:///{directory / 'dx.sqlite3'}", directory, chunk_size=500)
    status = run_file(fault_file, None, processes=1)
    # Finished, every line with a result and none `error`: the reference every case compares to.
    assert status.ok and status.total_lines > 0, status.line()
    with db.session_scope() as session:
        rows = session.execute(select(ResultRow.line_no, ResultRow.status, ResultRow.code)
                               .where(ResultRow.job_id == status.id)).all()
    db.dispose()
    return {line: (st, code) for line, st, code in rows}




def job_done(job_id: str) -> bool:
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        return job is not None and job.status == "done"


def assert_clean_end_state(job_id: str, expected: Expected) -> None:
    """The job completed with exactly one result per line and the codes a clean run gives."""
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "done"
        assert job.chunks_done == job.chunk_count
        count, distinct = session.execute(
            select(func.count(), func.count(func.distinct(ResultRow.line_no)))
            .where(ResultRow.job_id == job_id)).one()
        rows = session.execute(select(ResultRow.line_no, ResultRow.status, ResultRow.code)
                               .where(ResultRow.job_id == job_id)
                               .order_by(ResultRow.line_no)).all()
    assert count == distinct == job.total_lines == len(expected)
    assert [r.line_no for r in rows] == sorted(expected)
    got = {r.line_no: (r.status, r.code) for r in rows}
    different = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not different, f"{len(different)} lines differ from a clean run, e.g. " \
                          f"{list(different.items())[:3]}"


def record_recovery(case: str, seconds: float, **detail: object) -> None:
    """Append a measured recovery time where DXCODER_FAULT_REPORT points (docs/reliability.md)."""
    target = os.environ.get("DXCODER_FAULT_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"case": case, "recovery_s": round(seconds, 1), **detail}) + "\n")
