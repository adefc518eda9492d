"""Flower on a real worker: auth, workers online, chunk tasks succeeded, metrics, a browser."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clitools import cli, wait_until
from tests.conftest import PipelineEnv
from tests.ops.helpers import (
    DXCODER,
    SAMPLE,
    Service,
    http_get,
    http_json,
    listening_addresses,
    worker_hostname,
)
from tests.servers import free_port

AUTH = ("ops", "n0t-the-default")


class Flower:
    def __init__(self, service: Service, port: int, db: Path) -> None:
        self.service, self.port, self.db = service, port, db
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path: str) -> object:
        return http_json(self.base + path, AUTH)


@pytest.fixture
def flower(pipeline: PipelineEnv) -> Iterator[tuple[Flower, str]]:
    """A worker and Flower (`dxcoder flower`, as deploy/start-flower.sh runs it) on its queue."""
    worker = pipeline.start_worker()
    port = free_port()
    db = pipeline.tmp_path / "flower" / "state.db"
    env = pipeline.env(flower_user=AUTH[0], flower_password=AUTH[1], flower_port=port,
                       flower_db=db, flower_state_save_interval=1)
    # No --address: the default (DXCODER_FLOWER_ADDRESS) is what is tested.
    service = Service([DXCODER, "flower"], env, pipeline.tmp_path / "flower.log").start()
    running = Flower(service, port, db)
    try:
        name = worker_hostname(worker.name)
        wait_until(lambda: http_get(running.base + "/healthcheck", AUTH)[0] == 200,
                 what="Flower up",
                 service=service)
        # Flower learns of workers from their events and its inspect calls.
        wait_until(lambda: name in running.api("/api/workers?refresh=1"), timeout=60,
                 what="Flower to see the worker", service=service)
        yield running, name
    finally:
        service.stop()


def _resolve_chunk_tasks(flower: Flower, worker: str) -> dict[str, dict[str, object]]:
    # Other tests' workers may share the broker (and so Flower's event stream): ours only.
    tasks = flower.api(f"/api/tasks?taskname=dxcoder.resolve_chunk&workername={worker}"
                       "&limit=1000")
    assert isinstance(tasks, dict)
    return tasks


def test_flower_shows_the_worker_online_and_every_chunk_task_succeeded(
        pipeline: PipelineEnv, flower: tuple[Flower, str]) -> None:
    running, worker = flower
    submitted = cli(pipeline, "submit", str(SAMPLE), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    assert "400/400 lines" in submitted.stderr

    status = running.api("/api/workers?status=true")
    assert isinstance(status, dict) and status.get(worker) is True

    def eight_succeeded() -> bool:
        tasks = _resolve_chunk_tasks(running, worker)
        return sum(1 for t in tasks.values() if t["state"] == "SUCCESS") >= 8

    wait_until(eight_succeeded, timeout=30, what="8 successful chunk tasks in Flower")
    tasks = _resolve_chunk_tasks(running, worker)
    assert len(tasks) == 8 and {t["worker"] for t in tasks.values()} == {worker}
    assert all(t["state"] == "SUCCESS" for t in tasks.values()), tasks
    assert sum(int(t["result"].count("'lines': 50")) for t in tasks.values()) == 8

    # Authentication is not optional: no credentials, wrong credentials -> 401.
    assert http_get(running.base + "/api/workers")[0] == 401
    assert http_get(running.base + "/api/tasks", ("ops", "wrong"))[0] == 401
    assert http_get(running.base + "/tasks")[0] == 401

    # /metrics and /healthcheck too (Flower itself exempts them from its auth).
    assert http_get(running.base + "/metrics")[0] == 401
    assert http_get(running.base + "/healthcheck")[0] == 401
    assert http_get(running.base + "/metrics", ("ops", "wrong"))[0] == 401
    assert http_get(running.base + "/healthcheck", AUTH) == (200, "OK")
    # Only this machine can connect: 127.0.0.1 unless DXCODER_FLOWER_ADDRESS widens it.
    assert listening_addresses(running.port) == {"127.0.0.1"}

    # Flower's Prometheus endpoint counts the events it saw.
    code, metrics = http_get(running.base + "/metrics", AUTH)
    assert code == 200
    assert 'flower_events_total{task="dxcoder.resolve_chunk",type="task-succeeded"' in metrics

    # Persistent state is saved as it goes (every second here), not only at shutdown.
    wait_until(lambda: glob.glob(f"{running.db}*"), timeout=10, what="Flower's state file")
    # It holds task arguments and results (claims data): private, whatever the umask.
    modes = {p: os.stat(p).st_mode & 0o777 for p in glob.glob(f"{running.db}*")}
    assert set(modes.values()) == {0o600}, modes
    assert running.service.alive()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed; scripts/ensure-services.sh installs it",
                    pytrace=False)
    return found


def _browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--virtual-time-budget=8000", *extra, url],
                          capture_output=True, text=True, timeout=120, check=False,
                          start_new_session=True)


def test_a_browser_logs_in_to_flower_and_sees_the_chunk_tasks(
        pipeline: PipelineEnv, flower: tuple[Flower, str], tmp_path: Path) -> None:
    running, worker = flower
    assert cli(pipeline, "submit", str(SAMPLE), "--wait").returncode == 0
    wait_until(lambda: len(_resolve_chunk_tasks(running, worker)) >= 8, timeout=30, what="chunk tasks")
    # Basic auth through the URL: Chromium answers Flower's 401 challenge with these credentials
    # and reuses them for the page's own requests (the task table loads over XHR).
    url = f"http://{AUTH[0]}:{AUTH[1]}@127.0.0.1:{running.port}/tasks"
    # The table's rows arrive over XHR; on a loaded machine the first page load may be dumped
    # before they do, so look again (a person would press reload).
    for attempt in range(3):
        dom = _browse(url, tmp_path / f"profile-dom-{attempt}", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        if worker in dom.stdout and "SUCCESS" in dom.stdout:
            break
    assert "dxcoder.resolve_chunk" in dom.stdout
    assert worker in dom.stdout and "SUCCESS" in dom.stdout
    shot = tmp_path / "flower-tasks.png"
    done = _browse(url, tmp_path / "profile-shot", f"--screenshot={shot}",
                   "--window-size=1400,900")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1400  # width from the IHDR chunk
    assert len(data) > 30_000, "the screenshot looks blank"
    # Without credentials the browser gets the 401 page, not the tasks.
    denied = _browse(f"http://127.0.0.1:{running.port}/tasks", tmp_path / "profile-denied",
                     "--dump-dom")
    assert "dxcoder.resolve_chunk" not in denied.stdout
