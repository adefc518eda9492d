"""Inbox test helpers: a directory with the inbox layout, small claims files, polling to the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.inbox import Inbox, PollReport

TERMS = ["E11.9", "i10", "Type 2 diabetes", "CHF", "J44.9", "250.00", "", "N18.3"]


def claims_csv(path: Path, lines: int = 120, seed: int = 0) -> Path:
    """`lines` data lines (one blank term among each eight: invalid_input), ids unique per seed."""
    rows = ["id,term,date_of_service,payer"]
    rows += [f"S{seed}-{n:05d},{TERMS[n % len(TERMS)]},2025-03-01,AETNA" for n in range(lines)]
    path.write_text("\n".join(rows) + "\n")
    return path


def age(path: Path, seconds: float = 3600) -> None:
    """Make a file look untouched for `seconds` (as if its writer finished long ago)."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))


def send_chunks(ids, priority):  # type: ignore[no-untyped-def]
    from tasks.broker import send_job_chunks

    send_job_chunks(ids, priority)


def poll_until_settled(inbox: Inbox, timeout: float = 180) -> list[PollReport]:
    """Poll until nothing is in flight (every taken file archived or rejected)."""
    import time

    reports = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = inbox.poll()
        reports.append(report)
        if not report.in_flight and not report.busy:
            return reports
        time.sleep(0.3)
    raise AssertionError("the inbox did not settle")


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() or p.is_symlink())


@pytest.fixture
def inbox_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "inbox"
    directory.mkdir()
    return directory
