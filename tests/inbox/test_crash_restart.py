"""A poller that dies between any two steps neither loses nor doubles a file: the next one (with no
memory of the first) finishes the work. The crash is an exception raised at each step boundary."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import PipelineEnv
from tests.inbox.conftest import claims_csv, listing, poll_until_settled, send_chunks
from tests.ingest_pipeline.helpers import job_count
from worker import db
from worker.inbox import Inbox, set_checkpoint
from worker.models import InboxFile, Job


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@pytest.fixture
def crash_at() -> Iterator[list[str]]:
    armed: list[str] = []

    def hook(step: str, _name: str) -> None:
        if armed and step == armed[0]:
            armed.clear()  # one crash, as one process death
            raise Crash(step)

    set_checkpoint(hook)
    yield armed
    set_checkpoint(None)


def _poll_until_crash(inbox_dir: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    with pytest.raises(Crash):
        while time.monotonic() < deadline:
            Inbox(inbox_dir, send=send_chunks, settle_seconds=0).poll()
            time.sleep(0.3)


def _rows() -> list[InboxFile]:
    with db.session_scope() as session:
        return list(session.scalars(select(InboxFile)))


@pytest.mark.parametrize("step", ["after_seen", "after_submit", "after_submitted",
                                  "after_outbox", "after_done", "after_archive_move"])
def test_crash_between_steps_of_a_good_file(pipeline: PipelineEnv, inbox_dir: Path,
                                            crash_at: list[str], step: str) -> None:
    pipeline.start_worker()
    claims_csv(inbox_dir / "claims.csv", 120)
    crash_at.append(step)
    _poll_until_crash(inbox_dir)
    poll_until_settled(Inbox(inbox_dir, send=send_chunks, settle_seconds=0))  # the restart

    assert job_count() == 1
    with db.session_scope() as session:
        job = session.scalar(select(Job))
        assert job is not None and job.status == "done" and job.total_lines == 120
    assert [(r.name, r.state) for r in _rows()] == [("claims.csv", "archived")]
    assert listing(inbox_dir) == []
    assert listing(inbox_dir / "archive") == ["claims.csv"]
    assert listing(inbox_dir / "outbox") == ["claims.csv.results.csv"]
    assert listing(inbox_dir / "rejected") == []
    with (inbox_dir / "outbox" / "claims.csv.results.csv").open(newline="") as fh:
        assert [int(r["line_no"]) for r in csv.DictReader(fh)] == list(range(2, 122))  # header: 1


@pytest.mark.parametrize("step", ["after_rejected", "after_error_txt"])
def test_crash_while_refusing_a_bad_file(pipeline: PipelineEnv, inbox_dir: Path,
                                         crash_at: list[str], step: str) -> None:
    (inbox_dir / "bad.csv").write_text("id,payer\nC1,AETNA\n")  # no term column
    crash_at.append(step)
    _poll_until_crash(inbox_dir)
    poll_until_settled(Inbox(inbox_dir, send=send_chunks, settle_seconds=0))

    assert job_count() == 0
    assert [(r.name, r.state) for r in _rows()] == [("bad.csv", "rejected")]
    assert listing(inbox_dir) == []
    assert listing(inbox_dir / "rejected") == ["bad.csv", "bad.csv.error.txt"]
    assert "term column" in (inbox_dir / "rejected" / "bad.csv.error.txt").read_text()
