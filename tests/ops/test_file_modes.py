"""Files holding claims data are created 0600 (0640 with DXCODER_GROUP_READABLE), whatever the
umask: the embedded database, run/results output, outbox files, refusal notes, the log file."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from tests.inbox.conftest import claims_csv


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The common default umask (022: files readable by every user), which dxcoder must override."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_database_is_created_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    done = run_dxcoder("db", "upgrade", database_url="", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    created = sorted(data_dir.glob("dxcoder.sqlite3*"))
    assert data_dir / "dxcoder.sqlite3" in created
    assert {p.name: _mode(p) for p in created} == {p.name: 0o600 for p in created}


def test_results_outbox_notes_and_log_are_created_private(sqlite_url: str, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "dxcoder.log"
    env = {"DXCODER_LOG_FILE": str(log_file)}
    claims = claims_csv(tmp_path / "claims.csv", 20)
    ran = run_dxcoder("run", str(claims), "-o", str(tmp_path / "run.csv"), database_url=sqlite_url,
                      data_dir=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    job_id = re.search(r"job (\S+)", ran.stdout + ran.stderr)
    assert job_id, ran.stdout + ran.stderr
    exported = run_dxcoder("results", job_id.group(1), "-o", str(tmp_path / "results.csv"),
                           database_url=sqlite_url, data_dir=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    inbox = tmp_path / "drop"
    inbox.mkdir()
    claims_csv(inbox / "local.csv", 20)
    (inbox / "empty.csv").write_bytes(b"")
    watched = run_dxcoder("inbox", "watch", str(inbox), "--once", "--settle", "0",
                          database_url=sqlite_url, data_dir=tmp_path, env=env)
    assert watched.returncode == 0, watched.stderr
    files = {"run -o": tmp_path / "run.csv", "results -o": tmp_path / "results.csv",
             "outbox": inbox / "outbox" / "local.csv.results.csv",
             "refusal note": inbox / "rejected" / "empty.csv.error.txt", "log": log_file}
    assert {what: _mode(path) for what, path in files.items()} == dict.fromkeys(files, 0o600)


def test_group_readable_setting_gives_0640(sqlite_url: str, tmp_path: Path) -> None:
    log_file = tmp_path / "dxcoder.log"
    claims = claims_csv(tmp_path / "claims.csv", 10)
    os.umask(0o077)  # systemd's UMask=0077: the setting still gives the group read access
    ran = run_dxcoder("run", str(claims), "-o", str(tmp_path / "run.csv"), database_url=sqlite_url,
                      data_dir=tmp_path, env={"DXCODER_GROUP_READABLE": "true",
                                              "DXCODER_LOG_FILE": str(log_file)})
    assert ran.returncode == 0, ran.stderr
    assert (_mode(tmp_path / "run.csv"), _mode(log_file)) == (0o640, 0o640)
