"""Claims data is never written through a symbolic link: not at a temporary's name, not through
an outbox/, archive/ or rejected/ that is a link out of the inbox (inbox, `run -o`, `results -o`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from tests.inbox.conftest import claims_csv, listing

PRECIOUS = "someone else's file: must stay as it is\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text(PRECIOUS)
    return victim


def _watch_once(directory: Path, sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return run_dxcoder("inbox", "watch", str(directory), "--once", "--settle", "0",
                       database_url=sqlite_url, data_dir=tmp_path)


def test_a_symlink_at_the_outbox_temporary_is_not_written_through(sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    inbox = tmp_path / "drop"
    (inbox / "outbox").mkdir(parents=True)
    victim = _victim(tmp_path)
    claims_csv(inbox / "local.csv", 30)
    (inbox / "outbox" / ".local.csv.results.csv.tmp").symlink_to(victim)
    done = _watch_once(inbox, sqlite_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == PRECIOUS
    results = inbox / "outbox" / "local.csv.results.csv"
    assert not results.is_symlink() and len(results.read_text().splitlines()) == 31
    assert listing(inbox / "outbox") == ["local.csv.results.csv"]  # the planted link is gone
    assert listing(inbox / "archive") == ["local.csv"]


@pytest.mark.parametrize("sub", ["outbox", "archive", "rejected"])
def test_a_symlinked_sub_folder_is_refused_with_a_clear_message(sqlite_url: str, tmp_path: Path,
                                                                sub: str) -> None:
    inbox = tmp_path / "drop"
    inbox.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / sub).symlink_to(elsewhere, target_is_directory=True)
    claims_csv(inbox / "local.csv", 30)
    (inbox / "empty.csv").write_bytes(b"")  # would go to rejected/
    done = _watch_once(inbox, sqlite_url, tmp_path)
    assert done.returncode == 1
    assert re.search(rf"dxcoder: error: \S*drop/{sub} is a symbolic link; .*must be a real "
                     "directory inside the inbox", done.stderr), done.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written or moved out of the inbox
    assert sorted(p.name for p in inbox.iterdir() if p.is_file() and not p.is_symlink()) == [
        "empty.csv", "local.csv"]


@pytest.mark.parametrize("command", ["run", "results"])
def test_run_and_results_output_never_follow_a_temporary_symlink(sqlite_url: str, tmp_path: Path,
                                                                  command: str) -> None:
    victim = _victim(tmp_path)
    claims = claims_csv(tmp_path / "claims.csv", 20)
    out = tmp_path / "out.csv"
    if command == "run":
        args = ["run", str(claims), "--quiet"]
    else:
        ran = run_dxcoder("run", str(claims), "--quiet", "-o", str(tmp_path / "first.csv"),
                          database_url=sqlite_url, data_dir=tmp_path)
        assert ran.returncode == 0, ran.stderr
        job_id = re.search(r"job (\S+)", ran.stdout + ran.stderr)
        assert job_id, ran.stdout + ran.stderr
        args = ["results", job_id.group(1)]
    (tmp_path / ".out.csv.tmp").symlink_to(victim)
    done = run_dxcoder(*args, "-o", str(out), database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == PRECIOUS
    assert len(out.read_text().splitlines()) == 21
    assert not (tmp_path / ".out.csv.tmp").exists() and not (tmp_path / ".out.csv.tmp").is_symlink()
