"""The moving parts of `make chaos` (bench/chaos.py): a TCP proxy that can blackhole a worker's
connections, and the processes the soak starts, kills, stops and restarts.

Everything listens on 127.0.0.1, on free ports, beside throwaway servers the soak starts itself
(tests/servers.py); the shared PostgreSQL and Redis are never touched.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Proxy:
    """Forwards 127.0.0.1:port to a server. `blackhole()` keeps every connection open but
    moves no byte either way and accepts new connections without answering, as a network
    partition looks from both ends (no RST, no FIN); `heal()` lets bytes through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    def blackhole(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self._open.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        self._open.wait()
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        peers = {client: server, server: client}
        try:
            while not self._closed:
                readable, _, _ = select.select(list(peers), [], [], 0.5)
                for sock in readable:
                    self._open.wait()  # a partition: bytes wait here, unread and unsent
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()


class Service:
    """A long-running process of the system (worker, beat) that the soak kills and restarts."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped_until = 0.0

    def start(self) -> None:
        """Start it unless it runs (two restarts due at once must not leave two beats)."""
        if self.alive():
            return
        # Logs are PHI-free by design, but the soak's scratch files stay owner-only anyway.
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as log:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def children(self) -> list[int]:
        if self.process is None:
            return []
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def stop(self, grace: float = 20) -> None:
        if not self.alive():
            return
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGTERM)
        assert self.process is not None
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()


def dxcoder(*args: str, env: dict[str, str], timeout: float = 600
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "dxcoder"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False, cwd=ROOT)


def wait_for(predicate, timeout: float, step: float = 1.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
