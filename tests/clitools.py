"""Run the installed `dxcoder` command as a user would, against a given database; wait for what
it does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy.exc

if TYPE_CHECKING:
    from tests.conftest import PipelineEnv


class _Service(Protocol):
    def alive(self) -> bool: ...

    def log(self) -> str: ...

DXCODER = str(Path(sys.executable).with_name("dxcoder"))


def run_dxcoder(*args: str, database_url: str, data_dir: Path | str, timeout: float = 300,
                env: dict[str, str] | None = None, input: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    environ.update({"DXCODER_DATABASE_URL": database_url, "DXCODER_DATA_DIR": str(data_dir)})
    environ.update(env or {})
    return subprocess.run([DXCODER, *args], capture_output=True, text=True, env=environ,
                          timeout=timeout, input=input, check=False)


def cli(env: PipelineEnv, *args: str, timeout: float = 300, **settings: object
        ) -> subprocess.CompletedProcess[str]:
    """The installed `dxcoder` on the pipeline's database and queue; settings override its env
    (database_url and broker_url included)."""
    fixed = {k: settings.pop(k) for k in ("database_url", "broker_url") if k in settings}
    environ = env.env(**settings)
    environ.update({f"DXCODER_{k.upper()}": str(v) for k, v in fixed.items()})
    return run_dxcoder(*args, database_url=env.database_url, data_dir=env.tmp_path,
                       env=environ, timeout=timeout)


# What a predicate may raise while the thing it looks at is not there yet: a server not yet
# listening (or down on purpose), a database restarting.
NOT_YET = (OSError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def wait_until(predicate: Callable[[], Any], timeout: float = 120, what: str = "condition", *,
               poll: float = 0.3, service: _Service | None = None) -> Any:
    """Poll until predicate() returns something true and return it; fail naming `what` after
    `timeout` s, or at once if `service` (a process the wait depends on) has exited."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except NOT_YET as exc:
            value, last = None, exc
        if value:
            return value
        if service is not None and not service.alive():
            raise AssertionError(f"{what}: process exited\n{service.log()[-3000:]}")
        time.sleep(poll)
    detail = f" (last: {type(last).__name__})" if last is not None else ""
    log = f"\n{service.log()[-3000:]}" if service is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}{log}")


def one_code_csv(path: Path, lines: int) -> Path:
    """A large CSV quickly: `lines` lines of one code (staging takes seconds, resolving little)."""
    with path.open("w") as fh:
        fh.write("id,term,date_of_service,payer\n")
        for n in range(lines):
            fh.write(f"C{n:09d},E11.9,2025-03-01,AETNA\n")
    return path


def cut_off_when(args: list[str], env: dict[str, str], ready: Callable[[], bool], what: str,
                 cut: Callable[[subprocess.Popen[str]], None] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Start `dxcoder ARGS`, wait (up to 120 s) until ready(), cut it off with cut(process)
    (default: Ctrl-C) and return how it ended."""
    # SIGINT at its default in the command, as a terminal's Ctrl-C finds it: a test run started
    # in the background (`make test &`) ignores SIGINT, and the command would inherit that.
    process = subprocess.Popen([DXCODER, *args], env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, what
            time.sleep(0.05)
        (cut or (lambda running: running.send_signal(signal.SIGINT)))(process)
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
