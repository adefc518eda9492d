"""Run bookkeeping: lost messages reconciled, overlapping starts, the embedded mode."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from sqlalchemy import select, update

from tests.clitools import run_dxcoder, wait_until
from tests.conftest import PipelineEnv
from tests.recode.helpers import FY2026_DAY, claims_file, report_rows, run_row, submit
from worker import db
from worker.models import RecodeChunk, RecodeRun
from worker.recode import runs


def test_the_reconciler_sends_recode_chunks_that_were_never_sent(pipeline: PipelineEnv,
                                                                 tmp_path: Path) -> None:
    pipeline.start_worker()
    rows = [("G35", FY2026_DAY), ("C84.10", FY2026_DAY)] * 30
    submit(pipeline, claims_file(tmp_path / "c.csv", rows), "--release", "FY2025")
    # A planner that died after its commit, before sending anything.
    started = runs.start(trigger="beat")
    assert started.outcome == "planned" and started.chunks == 2 and started.lines == 60
    with db.session_scope() as session:
        session.execute(update(RecodeRun).values(
            started_at=RecodeRun.started_at - dt.timedelta(minutes=5)))
    from tasks.reconcile import reconcile_once

    assert reconcile_once() == 2
    assert reconcile_once() == 0  # leases taken: nothing sent twice
    wait_until(lambda: run_row(str(started.run_id)).status == "done", what="the reconciled run")
    counts = run_row(str(started.run_id)).counts
    assert counts is not None and counts["expanded"] == 30 and counts["retitled"] == 30
    assert len(report_rows(pipeline, str(started.run_id))) == 60


def test_overlapping_starts_plan_one_run(pipeline: PipelineEnv, tmp_path: Path) -> None:
    pipeline.start_worker()
    rows = [("G35", FY2026_DAY)] * 120
    submit(pipeline, claims_file(tmp_path / "c.csv", rows), "--release", "FY2025")
    outcomes: list[runs.Started] = []
    gate = threading.Barrier(4)

    def start() -> None:
        gate.wait()
        outcomes.append(runs.start(trigger="beat"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.outcome for o in outcomes) == ["busy", "busy", "busy", "planned"]
    with db.session_scope() as session:
        assert len(list(session.scalars(select(RecodeRun)))) == 1
        assert len(list(session.scalars(select(RecodeChunk)))) == 3  # 120 lines, 50 a chunk


def test_embedded_recode_runs_in_process(sqlite_url: str, tmp_path: Path) -> None:
    rows = [("G35", FY2026_DAY), ("S30.1XXA", FY2026_DAY), ("E11.9", FY2026_DAY)]
    path = claims_file(tmp_path / "c.csv", rows)
    ran = run_dxcoder("run", str(path), "-o", str(tmp_path / "out.csv"), "--quiet",
                      "--release", "FY2025", database_url=sqlite_url, data_dir=tmp_path)
    assert ran.returncode == 0, ran.stderr
    recode = run_dxcoder("recode", "run", database_url=sqlite_url, data_dir=tmp_path)
    assert recode.returncode == 0, recode.stderr
    run_id = recode.stdout.strip()
    assert "3 lines checked (deleted 1, expanded 1, unchanged 1)" in recode.stderr
    report = run_dxcoder("recode", "report", run_id, database_url=sqlite_url, data_dir=tmp_path)
    lines = report.stdout.splitlines()
    assert lines[0].startswith("job_id,line_no,change,") and len(lines) == 3
    # Line 2: the first entry, after the header.
    assert ",2,expanded,resolved,G35,FY2025,code_exact,needs_review,G35.D,FY2026," in lines[1]
