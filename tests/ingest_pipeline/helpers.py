"""Shared by the ingest pipeline and inbox tests: the CLI against a pipeline, waiting, counting."""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from worker import db
from worker.models import InputLine, Job

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "ingest" / "data"
X12_837P = DATA / "837p_star_colon_newlines.x12"
X12_837I = DATA / "837i_pipe_caret_one_line.x12"
SAMPLE = ROOT / "samples" / "claims.csv"


def cli(env: PipelineEnv, *args: str, timeout: float = 300, **settings: object
        ) -> subprocess.CompletedProcess[str]:
    """The installed `dxcoder` on the pipeline's database and queue; settings override its env
    (database_url and broker_url included)."""
    fixed = {k: settings.pop(k) for k in ("database_url", "broker_url") if k in settings}
    environ = env.env(**settings)
    environ.update({f"DXCODER_{k.upper()}": str(v) for k, v in fixed.items()})
    return run_dxcoder(*args, database_url=env.database_url, data_dir=env.tmp_path,
                       env=environ, timeout=timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 120, what: str = "condition"
               ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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
