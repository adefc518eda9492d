"""Drop-off conventions: temporary names, sidecar markers, a writer that pauses longer than the
settle time, and `inbox watch --once` saying what it left waiting and why."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from tests.inbox.conftest import age, claims_csv, listing, poll_until_settled, send_chunks
from tests.ingest_pipeline.helpers import job_count
from worker import db
from worker.inbox import Inbox, poll
from worker.models import InboxFile

TEMPORARY = ["a.csv.filepart", "b.csv.tmp", "~c.csv", ".d.csv", "e.csv.PART", "f.csv.partial"]


def _embedded(directory: Path, settle: float = 0, **options: bool) -> Inbox:
    return Inbox(directory, send=None, settle_seconds=settle, run_inline=True, processes=1,
                 **options)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _states() -> list[tuple[str, str]]:
    with db.session_scope() as session:
        return [(r.name, r.state) for r in session.scalars(select(InboxFile)
                                                           .order_by(InboxFile.id))]


def test_temporary_names_wait_until_renamed(sqlite_url: str, inbox_dir: Path) -> None:
    for seed, name in enumerate(TEMPORARY):
        age(claims_csv(inbox_dir / name, 10, seed=seed))
    report = _embedded(inbox_dir).poll()  # settle 0: anything not temporary would be taken
    assert not report.submitted and _states() == []
    skipped = dict(report.skipped)
    assert set(skipped) == set(TEMPORARY)
    assert skipped["a.csv.filepart"] == ("a temporary name (an upload in progress); taken once "
                                         "renamed to a.csv")
    assert "renamed to c.csv" in skipped["~c.csv"] and "renamed to e.csv" in skipped["e.csv.PART"]
    # Renamed by the sender: taken at once, even though just written and the settle time is long.
    patient = _embedded(inbox_dir, settle=3600)
    patient.poll()
    finals = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "f.csv"]
    for temporary, final in zip(TEMPORARY, finals, strict=True):
        (inbox_dir / temporary).rename(inbox_dir / final)
    report = patient.poll()
    assert sorted(name for name, _ in report.submitted) == finals
    assert listing(inbox_dir / "archive") == finals
    assert all(len(_rows(inbox_dir / "outbox" / f"{n}.results.csv")) == 10 for n in finals)


def test_a_file_waits_for_its_marker_and_the_marker_is_archived_with_it(
        sqlite_url: str, inbox_dir: Path) -> None:
    age(claims_csv(inbox_dir / "claims.csv", 20))
    age(claims_csv(inbox_dir / "other.csv", 20, seed=1))
    (inbox_dir / "empty.csv").write_bytes(b"")
    inbox = _embedded(inbox_dir, require_marker=True)
    report = inbox.poll()
    assert not report.submitted and not report.rejected and _states() == []
    assert dict(report.skipped)["claims.csv"] == (
        "waits for its marker claims.csv.done or claims.csv.ok (DXCODER_INBOX_REQUIRE_MARKER)")
    (inbox_dir / "claims.csv.done").write_text("")
    (inbox_dir / "empty.csv.ok").write_text("")
    report = inbox.poll()
    assert [name for name, _ in report.submitted] == ["claims.csv"]
    assert [name for name, _ in report.rejected] == ["empty.csv"]  # the marker is no claims file
    assert listing(inbox_dir / "archive") == ["claims.csv", "claims.csv.done"]
    assert listing(inbox_dir / "rejected") == ["empty.csv", "empty.csv.error.txt", "empty.csv.ok"]
    assert listing(inbox_dir) == ["other.csv"]  # still waiting for its marker
    assert len(_rows(inbox_dir / "outbox" / "claims.csv.results.csv")) == 20


def test_the_marker_setting_reaches_inbox_watch(sqlite_url: str, tmp_path: Path,
                                                inbox_dir: Path) -> None:
    age(claims_csv(inbox_dir / "claims.csv", 5))
    done = run_dxcoder("inbox", "watch", str(inbox_dir), "--once", "--settle", "0",
                       database_url=sqlite_url, data_dir=tmp_path,
                       env={"DXCODER_INBOX_REQUIRE_MARKER": "true"})
    assert done.returncode == 0, done.stderr
    assert "claims.csv: skipped: waits for its marker claims.csv.done" in done.stderr
    assert listing(inbox_dir) == ["claims.csv"]


def test_a_file_written_to_after_it_was_read_is_read_again_not_archived(
        sqlite_url: str, inbox_dir: Path) -> None:
    """The writer paused longer than the settle time: the first half was taken and processed;
    while it was, the writer wrote the rest. The half must not be what gets archived."""
    path = claims_csv(inbox_dir / "slow.csv", 20)
    full = claims_csv(inbox_dir.parent / "full.csv", 40).read_text()
    age(path)
    resumed = []

    def writer_resumes(step: str, name: str) -> None:
        if step == "after_outbox" and not resumed:
            resumed.append(step)
            path.write_text(full)

    inbox = _embedded(inbox_dir, settle=5)
    poll.set_checkpoint(writer_resumes)
    try:
        report = inbox.poll()
    finally:
        poll.set_checkpoint(None)
    assert resumed and listing(inbox_dir / "archive") == []
    assert listing(inbox_dir) == ["slow.csv"] and path.read_text() == full
    assert ("slow.csv", poll.CHANGED) in report.skipped
    assert _states() == [("slow.csv", "superseded")]
    assert not inbox.poll().submitted  # just written: it settles first
    age(path)
    poll_until_settled(inbox)
    assert listing(inbox_dir / "archive") == ["slow.csv"]
    assert (inbox_dir / "archive" / "slow.csv").read_text() == full
    rows = _rows(inbox_dir / "outbox" / "slow.csv.results.csv")
    assert [r["id"] for r in rows] == [f"S0-{n:05d}" for n in range(40)]
    assert _states() == [("slow.csv", "superseded"), ("slow.csv", "archived")]


def test_new_content_under_the_name_supersedes_the_unfinished_job(pipeline: PipelineEnv,
                                                                 inbox_dir: Path) -> None:
    """Half the file was submitted (the writer paused), then the writer finished it. The job of
    the half must not write the outbox after the whole file's results are there."""
    path = age_file = claims_csv(inbox_dir / "slow.csv", 20)
    age(age_file)
    inbox = Inbox(inbox_dir, send=send_chunks, settle_seconds=5)
    assert [n for n, _ in inbox.poll().submitted] == ["slow.csv"]  # no worker yet: it waits
    claims_csv(path, 40)
    age(path)
    assert [n for n, _ in inbox.poll().submitted] == ["slow.csv"]
    assert _states() == [("slow.csv", "superseded"), ("slow.csv", "submitted")]
    pipeline.start_worker()
    poll_until_settled(inbox)
    for _ in range(3):  # later polls change nothing: the half's job never writes the outbox
        inbox.poll()
    rows = _rows(inbox_dir / "outbox" / "slow.csv.results.csv")
    assert [r["id"] for r in rows] == [f"S0-{n:05d}" for n in range(40)]
    assert listing(inbox_dir / "archive") == ["slow.csv"]
    assert _states() == [("slow.csv", "superseded"), ("slow.csv", "archived")]
    assert job_count() == 2  # the half's job stays reachable (`dxcoder inbox list` shows it)


def test_watch_once_says_what_it_skipped_and_why(sqlite_url: str, tmp_path: Path,
                                                 inbox_dir: Path) -> None:
    claims_csv(inbox_dir / "fresh.csv", 5)
    claims_csv(inbox_dir / "upload.csv.part", 5)
    done = run_dxcoder("inbox", "watch", str(inbox_dir), "--once", database_url=sqlite_url,
                       data_dir=tmp_path, env={"DXCODER_INBOX_SETTLE_SECONDS": "30"})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith("fresh.csv: skipped: changed ") and line.endswith(
        " s ago; taken once unchanged for 30 s (DXCODER_INBOX_SETTLE_SECONDS)") for line in lines)
    assert ("upload.csv.part: skipped: a temporary name (an upload in progress); taken once "
            "renamed to upload.csv") in lines
    assert listing(inbox_dir) == ["fresh.csv", "upload.csv.part"]
