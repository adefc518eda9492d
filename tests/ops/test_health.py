"""`dxcoder health` against real servers: healthy, Redis gone, unmigrated, empty, backlog."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.clitools import cli, run_dxcoder
from tests.conftest import TEST_BROKER, PipelineEnv
from tests.ops.helpers import SAMPLE, worker_hostname
from tests.servers import free_port
from worker import migrate


def _health(env: PipelineEnv, *args: str, **settings: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = cli(env, "health", "--json", *args, timeout=60, **settings)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def _statuses(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {name: check["status"] for name, check in report["checks"].items()}


def test_healthy_with_a_worker_up(pipeline: PipelineEnv) -> None:
    worker = pipeline.start_worker()
    code, report = _health(pipeline, "--this-host")
    assert code == 0, report
    assert report["healthy"] is True
    assert set(_statuses(report).values()) == {"ok"}
    checks = report["checks"]
    assert checks["workers"]["value"] == [worker_hostname(worker.name)]
    assert checks["breakers"]["value"] == {"postgresql": "closed", "redis": "closed"}
    assert checks["code_sets"]["value"] == ["FY2025", "FY2026"]
    assert checks["queue"]["value"] == 0
    assert checks["backlog"]["value"] == {"queued": 0, "running": 0, "oldest_queued_s": None}
    text = cli(pipeline, "health")
    assert text.returncode == 0 and text.stdout.splitlines()[-1] == "healthy"


def test_unhealthy_when_redis_is_unreachable(pipeline: PipelineEnv) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    done = cli(pipeline, "health", broker_url=closed)
    assert time.monotonic() - started < 30  # a healthcheck must not hang
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("FAIL redis") and "cannot reach the broker" in line
               for line in lines), done.stdout
    assert lines[-1] == "unhealthy: redis"
    code, report = _health(pipeline, broker_url=closed)
    assert code == 1 and report["healthy"] is False
    statuses = _statuses(report)
    assert statuses["database"] == statuses["schema"] == statuses["code_sets"] == "ok"
    assert statuses["redis"] == "fail" and statuses["workers"] == "skip"


def test_unhealthy_with_an_unmigrated_database(empty_pg_url: str, tmp_path: Path) -> None:
    env = {"DXCODER_BROKER_URL": TEST_BROKER, "DXCODER_QUEUE": "dxcoder.test.health-empty"}
    done = run_dxcoder("health", "--no-workers", database_url=empty_pg_url, data_dir=tmp_path,
                       env=env)
    assert done.returncode == 1
    assert "run `dxcoder db upgrade`" in done.stdout
    assert done.stdout.splitlines()[-1] == "unhealthy: schema"
    # Migrated but nothing loaded: the next thing to do is named.
    migrate.upgrade()
    done = run_dxcoder("health", "--no-workers", database_url=empty_pg_url, data_dir=tmp_path,
                       env=env)
    assert done.returncode == 1
    assert "no release loaded: run `dxcoder codeset load`" in done.stdout
    assert done.stdout.splitlines()[-1] == "unhealthy: code_sets"


def test_no_worker_and_a_waiting_backlog_are_reported(pipeline: PipelineEnv) -> None:
    from tests.clitools import wait_until
    from worker.ops.health import chunk_backlog

    submitted = cli(pipeline, "submit", str(SAMPLE))  # no worker: the chunks wait
    assert submitted.returncode == 0, submitted.stderr
    wait_until(lambda: (chunk_backlog()[2] or 0) >= 2, timeout=30,
             what="the oldest queued chunk to wait 2 s")
    code, report = _health(pipeline, health_max_queue_age=1, health_timeout=1)
    checks = report["checks"]
    assert code == 1
    assert checks["queue"]["value"] == 8
    assert checks["backlog"]["value"]["queued"] == 8
    assert checks["backlog"]["value"]["oldest_queued_s"] >= 2
    assert checks["backlog"]["status"] == "fail" and checks["workers"]["status"] == "fail"
    assert "start one with `dxcoder worker`" in checks["workers"]["detail"]
    # Report-only by default: the backlog alone is not a failure.
    code, report = _health(pipeline, "--no-workers")
    assert code == 0 and report["checks"]["backlog"]["status"] == "ok"
