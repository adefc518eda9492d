"""Processes and HTTP for the operations tests: Flower, the exporter, start scripts."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.clitools import DXCODER
from tests.workers import ROOT

SAMPLE = ROOT / "samples" / "claims.csv"


class Service:
    """A long-running process in its own session (so its children die with it), log in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv, self.env, self.log_path = argv, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        else:
            # The leader is gone; make sure nothing it started outlives it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
        return self.process.returncode


def http_get(url: str, auth: tuple[str, str] | None = None, timeout: float = 10
             ) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def listening_addresses(port: int) -> set[str]:
    """The local addresses (IPv4 dotted, IPv6 hex) TCP sockets listen on at `port` (/proc/net)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(FileNotFoundError), open(table) as fh:
            for line in list(fh)[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    if width == 8:
                        address = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
                    found.add(address)
    return found


def http_json(url: str, auth: tuple[str, str] | None = None) -> Any:
    status, body = http_get(url, auth)
    assert status == 200, f"GET {url} -> {status}: {body[:300]}"
    return json.loads(body)






def worker_hostname(worker_name: str) -> str:
    """Celery's node name for a `-n name@%h` worker started on this machine."""
    import socket

    return worker_name.replace("%h", socket.gethostname())


__all__ = ["DXCODER", "SAMPLE", "Service", "http_get", "http_json", "listening_addresses",
           "worker_hostname"]
