"""Passwords never reach the screen or the logs, wherever a URL carries them (userinfo, query)."""

from __future__ import annotations

import json
import subprocess

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from tests.workers import Worker
from worker.settings import mask_url

SECRET = "hunter2-in-query"


def _with_query_password(url: str) -> str:
    # libpq takes password= from the query; the shared server trusts, so the URL still connects.
    return f"{url}?password={SECRET}&application_name=dxcoder-test"


def _env(pipeline: PipelineEnv, **settings: str) -> dict[str, str]:
    env = pipeline.env()
    env["DXCODER_DATABASE_URL"] = _with_query_password(pipeline.database_url)
    env.update({f"DXCODER_{k.upper()}": v for k, v in settings.items()})
    return env


def _cli(pipeline: PipelineEnv, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = _env(pipeline, **settings)
    return run_dxcoder(*args, database_url=env["DXCODER_DATABASE_URL"],
                       data_dir=pipeline.tmp_path, env=env, timeout=60)


def test_every_password_like_part_of_a_url_is_masked() -> None:
    assert mask_url("postgresql+psycopg2://dx@db/dx?password=s3&sslmode=require") == \
        "postgresql+psycopg2://dx@db/dx?password=***&sslmode=require"
    masked = mask_url("redis://u:p1@h:6379/0?pass=p2&pwd=p3&secret=p4&token=p5&api_key=p6&db=0")
    assert masked == ("redis://u:***@h:6379/0?pass=***&pwd=***&secret=***&token=***"
                      "&api_key=***&db=0")
    assert mask_url("sqlite:////srv/dx/dxcoder.sqlite3") == "sqlite:////srv/dx/dxcoder.sqlite3"


def test_config_and_health_do_not_print_a_query_string_password(pipeline: PipelineEnv) -> None:
    shown = _cli(pipeline, "config", broker_url="redis://127.0.0.1:6379/0?password=" + SECRET)
    assert shown.returncode == 0, shown.stderr
    assert "password=***" in shown.stdout and SECRET not in shown.stdout + shown.stderr
    health = _cli(pipeline, "health", "--json", "--no-workers")
    report = json.loads(health.stdout)
    assert report["checks"]["database"]["status"] == "ok", report  # the URL did connect
    assert "password=***" in health.stdout and SECRET not in health.stdout + health.stderr
    text = _cli(pipeline, "health", "--no-workers")
    assert "password=***" in text.stdout and SECRET not in text.stdout + text.stderr


def test_worker_ready_event_masks_a_query_string_password(pipeline: PipelineEnv) -> None:
    worker = Worker(_env(pipeline), pipeline.tmp_path / "worker.log").start()
    pipeline.workers.append(worker)  # stopped with the others
    ready = next(e for e in worker.events() if e.get("event") == "worker.ready")
    assert ready["settings"]["DXCODER_DATABASE_URL"].endswith(
        "?password=***&application_name=dxcoder-test")
    assert SECRET not in worker.log_path.read_text()
