"""A real Celery worker (prefork) in a subprocess, pointed at a test's database and queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def dxcoder_env(database_url: str, data_dir: Path, broker_url: str, queue: str,
                **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    env.update({"DXCODER_DATABASE_URL": database_url, "DXCODER_DATA_DIR": str(data_dir),
                "DXCODER_BROKER_URL": broker_url, "DXCODER_QUEUE": queue,
                "DXCODER_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)})
    env.update({f"DXCODER_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Worker:
    """`celery -A tasks worker --pool prefork` with its JSON log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 2,
                 extra: tuple[str, ...] = (), app: str = "tasks") -> None:
        self.env, self.log_path, self.concurrency, self.extra = env, log_path, concurrency, extra
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"

    def start(self, timeout: float = 60) -> Worker:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [CELERY, "-A", self.app, "worker", "-Q", self.env["DXCODER_QUEUE"], "--pool",
             "prefork", "-c", str(self.concurrency), "-n", self.name, "--without-mingle",
             "--without-gossip", *self.extra],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("event") == "worker.ready" for e in self.events()):
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n"
                                   + self.log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        raise RuntimeError("worker did not become ready:\n" + self.log_path.read_text()[-3000:])

    def events(self) -> list[dict[str, Any]]:
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def pool_pids(self) -> list[int]:
        assert self.process is not None
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                  text=True, check=False).stdout.split()
        return [int(pid) for pid in children]

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and its pool."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        self._log.close()


class Beat:
    """`celery -A tasks beat` with its schedule file in the test's directory."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env, self.directory = env, directory
        self.log_path = directory / "beat.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Beat:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [CELERY, "-A", "tasks", "beat", "--schedule", str(self.directory / "beat-schedule"),
             "--loglevel", "INFO"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        if self.process is not None:
            self._log.close()
