"""Shared by the ingest pipeline and inbox tests: the CLI against a pipeline, waiting, counting."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import func, select

from tests.clitools import cli
from tests.conftest import PipelineEnv
from worker import db
from worker.models import InputLine, Job

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "ingest" / "data"
X12_837P = DATA / "837p_star_colon_newlines.x12"
X12_837I = DATA / "837i_pipe_caret_one_line.x12"
SAMPLE = ROOT / "samples" / "claims.csv"






def job_count() -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def staged_line_count() -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(InputLine)) or 0)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def submitted_export(env: PipelineEnv, source: Path, out: Path) -> bytes:
    """Submit SOURCE to the running workers, wait, export its results to OUT: the bytes."""
    submitted = cli(env, "submit", str(source), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    exported = cli(env, "results", submitted.stdout.strip().splitlines()[-1], "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    return out.read_bytes()
