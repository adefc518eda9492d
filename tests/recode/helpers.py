"""Shared pieces of the recoding tests: claims files, the CLI, waiting, reading runs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select

from tests.clitools import cli
from tests.conftest import PipelineEnv
from tests.workers import Beat  # noqa: F401  (re-exported for the recode tests)
from worker import db
from worker.models import RecodeRun
from worker.models import Result as ResultRow

FY2026_DAY = "2025-11-03"
FY2025_DAY = "2025-03-12"


def claims_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV claims file: (term, date of service) per line."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "term", "date_of_service"])
        for n, (term, day) in enumerate(rows, start=1):
            writer.writerow([f"CLM{n:06d}", term, day])
    return path






def submit(env: PipelineEnv, path: Path, *extra: str) -> str:
    result = cli(env, "submit", str(path), "--wait", *extra)
    assert result.returncode in (0, 1), result.stderr
    return str(result.stdout.strip())


def results(job_id: str) -> dict[int, ResultRow]:
    """A claims_file job's results by row: row n is on line n + 1, after the header."""
    with db.session_scope() as session:
        return {r.line_no - 1: r for r in session.scalars(
            select(ResultRow).where(ResultRow.job_id == job_id))}


def run_row(run_id: str) -> RecodeRun:
    with db.session_scope() as session:
        run = session.get(RecodeRun, run_id)
        assert run is not None
        return run


def report_rows(env: PipelineEnv, run_id: str) -> list[dict[str, str]]:
    result = cli(env, "recode", "report", run_id)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))
