"""Drive headless Chromium over the DevTools protocol: load a page, run a script in it, read it.

The Flower test only loads pages (--dump-dom); the review page needs a click and a form post,
so the browser runs with a debugging port and this client talks to it over its WebSocket
(Tornado's client: Tornado is installed through Flower).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.servers import free_port

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-allow-origins=*"]


class Browser:
    def __init__(self, profile: Path) -> None:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        if not found:
            pytest.fail("chromium is not installed; scripts/ensure-services.sh installs it",
                        pytrace=False)
        self.port = free_port()
        self.process = subprocess.Popen(
            [found, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={self.port}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.loop = IOLoop()
        self.socket: WebSocketClientConnection | None = None
        self.next_id = 0

    def __enter__(self) -> Browser:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list",
                                            timeout=2) as response:
                    pages = [t for t in json.load(response) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Chromium's debugging port did not open"
            time.sleep(0.3)
        url = pages[0]["webSocketDebuggerUrl"]
        self.socket = self.loop.run_sync(lambda: websocket_connect(url), timeout=30)
        return self

    def __exit__(self, *_: Any) -> None:
        if self.socket is not None:
            self.socket.close()
        self.loop.close(all_fds=True)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        wanted = self.next_id
        socket = self.socket
        assert socket is not None

        async def exchange() -> dict[str, Any]:
            await socket.write_message(json.dumps({"id": wanted, "method": method,
                                                   "params": params}))
            while True:
                message = await socket.read_message()
                assert message is not None, "Chromium closed the connection"
                reply = json.loads(message)
                if reply.get("id") == wanted:
                    return reply

        reply = self.loop.run_sync(exchange, timeout=60)
        assert "error" not in reply, reply
        return dict(reply["result"])

    def evaluate(self, script: str) -> Any:
        result = self.call("Runtime.evaluate", expression=script, returnByValue=True)
        return result["result"].get("value")

    def wait_until(self, script: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(script)
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {script}"
            time.sleep(0.2)
