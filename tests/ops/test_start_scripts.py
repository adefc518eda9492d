"""The deploy/ start scripts run for real outside Docker, against the test database and queue."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.clitools import cli, run_dxcoder, wait_until
from tests.conftest import TEST_BROKER, PipelineEnv
from tests.ops.helpers import SAMPLE, Service, http_get, http_json, worker_hostname
from tests.servers import ThrowawayRedis, free_port
from tests.workers import CELERY, ROOT, dxcoder_env

DEPLOY = ROOT / "deploy"
BIN = str(Path(sys.executable).parent)


def _script_env(base: dict[str, str]) -> dict[str, str]:
    # The scripts call `dxcoder` and `celery` by name, as in the image (venv first on PATH).
    return {**base, "PATH": f"{BIN}:{base.get('PATH', '/usr/bin:/bin')}"}


def _cmdline(service: Service) -> list[str]:
    assert service.process is not None
    raw = Path(f"/proc/{service.process.pid}/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def _pings(env: dict[str, str], node: str) -> bool:
    done = subprocess.run([CELERY, "-A", "tasks", "inspect", "ping", "-d", node, "--timeout",
                           "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    return done.returncode == 0 and "pong" in done.stdout


def test_worker_beat_and_flower_scripts_run_a_job(pipeline: PipelineEnv) -> None:
    port = free_port()
    env = _script_env(pipeline.env(worker_concurrency=1, reconcile_interval=2,
                                   flower_user="ops", flower_password="pw-from-env",
                                   flower_port=port, flower_wait_for_workers=60,
                                   flower_state_save_interval=1))
    node = worker_hostname(f"script-{uuid.uuid4().hex[:8]}@%h")
    tmp = pipeline.tmp_path
    worker = Service([str(DEPLOY / "start-worker.sh"), "-n", node], env, tmp / "w.log").start()
    beat = Service([str(DEPLOY / "start-beat.sh")], env, tmp / "beat.log")
    flower = Service([str(DEPLOY / "start-flower.sh"), "--address=127.0.0.1"], env,
                     tmp / "flower.log")
    try:
        wait_until(lambda: _pings(env, node), timeout=120, what="the worker to answer ping",
                 service=worker)
        # `exec`: the script's process is now the Celery worker itself, so signals reach it.
        argv = _cmdline(worker)
        assert "worker" in argv and any(a.endswith("celery") for a in argv[:2]), argv
        assert not any("start-worker" in a for a in argv)
        assert "--concurrency" in argv and argv[argv.index("--concurrency") + 1] == "1"

        submitted = cli(pipeline, "submit", str(SAMPLE), "--wait")
        assert submitted.returncode == 0, submitted.stderr
        assert "400/400 lines" in submitted.stderr

        beat.start()
        # Beat sends the reconciler every 2 s here; the worker receives and runs it.
        wait_until(lambda: "dxcoder.reconcile" in worker.log(), timeout=60,
                 what="a reconcile task from beat", service=beat)
        assert any("beat" in a for a in _cmdline(beat))

        flower.start()
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(base + "/healthcheck", ("ops", "pw-from-env"))[0] == 200,
                 timeout=90,
                 what="Flower", service=flower)
        assert "starting Flower anyway" not in flower.log()  # the worker answered first
        flower_argv = _cmdline(flower)
        assert "flower" in flower_argv and "--persistent=True" in flower_argv
        assert not any("pw-from-env" in a for a in flower_argv)  # not visible in `ps`
        assert http_get(base + "/api/workers")[0] == 401
        wait_until(lambda: node in http_json(base + "/api/workers?refresh=1",
                                           ("ops", "pw-from-env")),
                 timeout=30, what="Flower to list the worker")
    finally:
        codes = {"flower": flower.stop(), "beat": beat.stop(), "worker": worker.stop(60)}
    # A TERM is a clean, warm shutdown for each of them.
    assert codes == {"flower": 0, "beat": 0, "worker": 0}, codes
    assert not _pings(env, node)


def test_flower_starts_anyway_when_no_worker_answers(tmp_path: Path,
                                                    throwaway_redis: ThrowawayRedis) -> None:
    # A broker no other test's worker listens on.
    port = free_port()
    env = _script_env(dxcoder_env("sqlite:///unused.sqlite3", tmp_path, throwaway_redis.url,
                                  "dxcoder.test.flower", flower_user="ops",
                                  flower_password="pw", flower_port=port,
                                  flower_wait_for_workers=3))
    flower = Service([str(DEPLOY / "start-flower.sh"), "--address=127.0.0.1"], env,
                     tmp_path / "flower.log").start()
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthcheck",
                                  ("ops", "pw"))[0] == 200,
                 timeout=60, what="Flower", service=flower)
        assert "no worker answered ping in 3 s; starting Flower anyway" in flower.log()
    finally:
        flower.stop()


def test_flower_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    done = run_dxcoder("flower", database_url="sqlite:///unused.sqlite3", data_dir=tmp_path,
                       env={"DXCODER_FLOWER_USER": "ops"}, timeout=30)
    assert done.returncode == 2
    assert "set DXCODER_FLOWER_USER and DXCODER_FLOWER_PASSWORD" in done.stderr


def test_flower_refuses_the_placeholder_password_of_env_example(tmp_path: Path) -> None:
    done = run_dxcoder("flower", database_url="sqlite:///unused.sqlite3", data_dir=tmp_path,
                       env={"DXCODER_FLOWER_USER": "ops", "DXCODER_FLOWER_PASSWORD": "change-me"},
                       timeout=30)
    assert done.returncode == 2
    assert "DXCODER_FLOWER_PASSWORD is still the placeholder 'change-me'" in done.stderr


@pytest.mark.usefixtures("pg_template")
def test_migrate_script_prepares_an_empty_database(empty_pg_url: str, tmp_path: Path) -> None:
    env = _script_env(dxcoder_env(empty_pg_url, tmp_path, TEST_BROKER, "dxcoder.test.migrate"))
    done = subprocess.run([str(DEPLOY / "start-migrate.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "database at revision" in done.stdout and "FY2026" in done.stdout
    again = subprocess.run([str(DEPLOY / "start-migrate.sh")], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and "nothing changed" in again.stdout  # safe to re-run
    health = run_dxcoder("health", "--json", "--no-workers", database_url=empty_pg_url,
                         data_dir=tmp_path, env=env)
    report = json.loads(health.stdout)
    assert health.returncode == 0, report
    assert report["checks"]["code_sets"]["value"] == ["FY2025", "FY2026"]
