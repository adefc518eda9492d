"""The inbox end to end on real workers: outbox, archive, rejected, duplicates, settling, safety."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.clitools import cli, wait_until
from tests.conftest import PipelineEnv
from tests.inbox.conftest import age, claims_csv, listing, poll_until_settled, send_chunks
from tests.ingest_pipeline.helpers import X12_837P, job_count
from worker import db
from worker.inbox import Inbox
from worker.models import Chunk, InboxFile


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _states() -> dict[str, str]:
    with db.session_scope() as session:
        return {r.name: r.state for r in session.scalars(select(InboxFile))}


def test_watch_once_takes_files_to_outbox_archive_and_rejected(pipeline: PipelineEnv,
                                                               inbox_dir: Path) -> None:
    pipeline.start_worker()
    claims_csv(inbox_dir / "batch-1.csv", 120)
    shutil.copyfile(X12_837P, inbox_dir / "payer.x12")
    (inbox_dir / "empty.csv").write_bytes(b"")
    (inbox_dir / ".hidden.csv").write_text("id,term\n1,E11.9\n")
    (inbox_dir / "upload.csv.part").write_text("id,term\n1,E11.9\n")
    outside = inbox_dir.parent / "outside.csv"
    claims_csv(outside, 5)
    (inbox_dir / "link.csv").symlink_to(outside)

    first = cli(pipeline, "inbox", "watch", str(inbox_dir), "--once", "--settle", "0")
    assert first.returncode == 0, first.stderr
    assert "submitted batch-1.csv as job " in first.stdout
    assert "submitted payer.x12 as job " in first.stdout
    assert "empty.csv: rejected: " in first.stderr and "link.csv: rejected: " in first.stderr

    def finished() -> bool:
        done = cli(pipeline, "inbox", "watch", str(inbox_dir), "--once", "--settle", "0")
        assert done.returncode == 0, done.stderr
        return {n for n, s in _states().items() if s == "archived"} == {"batch-1.csv",
                                                                       "payer.x12"}

    wait_until(finished, what="both files archived")
    assert listing(inbox_dir) == [".hidden.csv", "upload.csv.part"]  # left alone
    assert listing(inbox_dir / "outbox") == ["batch-1.csv.results.csv", "payer.x12.results.csv"]
    assert listing(inbox_dir / "archive") == ["batch-1.csv", "payer.x12"]
    assert listing(inbox_dir / "rejected") == ["empty.csv", "empty.csv.error.txt", "link.csv",
                                               "link.csv.error.txt"]
    results = _rows(inbox_dir / "outbox" / "batch-1.csv.results.csv")
    assert [int(r["line_no"]) for r in results] == list(range(2, 122))  # the header is line 1
    assert {r["payer"] for r in results} == {"AETNA"}
    assert len(_rows(inbox_dir / "outbox" / "payer.x12.results.csv")) == 7
    assert "the file is empty" in (inbox_dir / "rejected" / "empty.csv.error.txt").read_text()
    assert "symbolic link" in (inbox_dir / "rejected" / "link.csv.error.txt").read_text()
    assert (inbox_dir / "rejected" / "link.csv").is_symlink() and outside.exists()
    assert job_count() == 2
    assert _states()["empty.csv"] == "rejected"
    listed = cli(pipeline, "inbox", "list", str(inbox_dir))
    assert listed.returncode == 0 and "archived" in listed.stdout and "rejected" in listed.stdout


def test_same_content_is_submitted_once(pipeline: PipelineEnv, inbox_dir: Path) -> None:
    pipeline.start_worker()
    claims_csv(inbox_dir / "monday.csv", 60)
    # Files are taken in name order, so the copy (later in order) is the duplicate.
    shutil.copyfile(inbox_dir / "monday.csv", inbox_dir / "zz-copy.csv")
    inbox = Inbox(inbox_dir, send=send_chunks, settle_seconds=0)
    poll_until_settled(inbox)
    assert job_count() == 1
    assert listing(inbox_dir / "archive") == ["monday.csv"]
    assert listing(inbox_dir / "rejected") == ["zz-copy.csv", "zz-copy.csv.error.txt"]
    note = (inbox_dir / "rejected" / "zz-copy.csv.error.txt").read_text()
    assert "same content as monday.csv, already submitted as job" in note
    # Dropped again later, under its first name: still one job, and the reason says where to look.
    shutil.copyfile(inbox_dir / "archive" / "monday.csv", inbox_dir / "monday.csv")
    poll_until_settled(Inbox(inbox_dir, send=send_chunks, settle_seconds=0))
    assert job_count() == 1
    assert "outbox/monday.csv.results.csv" in next(
        (inbox_dir / "rejected").glob("monday.csv.*error.txt")).read_text()
    assert listing(inbox_dir / "outbox") == ["monday.csv.results.csv"]


def test_a_growing_file_waits_and_a_part_upload_is_taken_when_renamed(pipeline: PipelineEnv,
                                                                      inbox_dir: Path) -> None:
    inbox = Inbox(inbox_dir, send=send_chunks, settle_seconds=30)
    fresh = claims_csv(inbox_dir / "fresh.csv", 10, seed=1)
    part = claims_csv(inbox_dir / "upload.csv.part", 10, seed=2)
    report = inbox.poll()
    assert not report.submitted and _states() == {}  # written just now: not settled yet
    age(fresh)
    part.rename(inbox_dir / "upload.csv")  # the sender says it is complete: no settle wait
    report = inbox.poll()
    assert sorted(name for name, _ in report.submitted) == ["fresh.csv", "upload.csv"]
    assert job_count() == 2


def test_a_file_modified_while_hashed_waits(pipeline: PipelineEnv, inbox_dir: Path) -> None:
    inbox = Inbox(inbox_dir, send=send_chunks, settle_seconds=0)
    path = claims_csv(inbox_dir / "busy.csv", 10)
    from worker.inbox import files

    real_hash = files.content_hash

    def hash_while_appending(p: Path):  # type: ignore[no-untyped-def]
        with p.open("a") as fh:
            fh.write("late,E11.9,2025-03-01,AETNA\n")
        time.sleep(0.01)
        return real_hash(p)

    files.content_hash = hash_while_appending  # type: ignore[assignment]
    try:
        assert not inbox.poll().submitted
    finally:
        files.content_hash = real_hash  # type: ignore[assignment]
    assert _states() == {} and path.exists()
    assert [n for n, _ in inbox.poll().submitted] == ["busy.csv"]


def test_beat_task_polls_the_inbox_on_a_real_worker(pipeline: PipelineEnv,
                                                    inbox_dir: Path) -> None:
    worker = pipeline.start_worker(inbox_settle_seconds=0)
    # Senders name files after patients; the name is PHI and must stay out of the logs.
    name = "DOE_JANE_1957-03-12.csv"
    claims_csv(inbox_dir / name, 80)
    from tasks.inbox import inbox_poll

    def archived() -> bool:
        inbox_poll.apply_async((str(inbox_dir),), queue=pipeline.queue)
        time.sleep(1)
        return _states().get(name) == "archived"

    wait_until(archived, timeout=180, what="the beat task to finish the file")
    assert len(_rows(inbox_dir / "outbox" / f"{name}.results.csv")) == 80
    assert job_count() == 1
    with db.session_scope() as session:
        row_id = session.scalar(select(InboxFile.id))
        assert session.scalar(select(func.count()).select_from(InboxFile)) == 1
    steps = {e["event"]: e for e in worker.events() if e.get("event", "").startswith("inbox.")}
    assert {"inbox.submitted", "inbox.completed", "inbox.archived"} <= set(steps)
    assert steps["inbox.completed"]["inbox_file_id"] == row_id
    assert "DOE" not in worker.log_path.read_text()


def test_embedded_inbox_runs_the_job_in_process(sqlite_url: str, tmp_path: Path) -> None:
    from tests.clitools import run_dxcoder

    inbox_dir = tmp_path / "drop"
    inbox_dir.mkdir()
    claims_csv(inbox_dir / "local.csv", 30)
    # Chunked as `dxcoder run` chunks (DXCODER_RUN_CHUNK_SIZE), not as submit does.
    done = run_dxcoder("inbox", "watch", str(inbox_dir), "--once", "--settle", "0",
                       database_url=sqlite_url, data_dir=tmp_path,
                       env={"DXCODER_CHUNK_SIZE": "5", "DXCODER_RUN_CHUNK_SIZE": "12"})
    assert done.returncode == 0, done.stderr
    assert "local.csv: results -> outbox/local.csv.results.csv" in done.stdout
    assert listing(inbox_dir / "archive") == ["local.csv"]
    rows = _rows(inbox_dir / "outbox" / "local.csv.results.csv")
    assert [row["id"] for row in rows] == [f"S0-{n:05d}" for n in range(30)]
    assert not os.listdir(inbox_dir / "rejected")
    with db.session_scope() as session:
        spans = session.execute(select(Chunk.first_line, Chunk.last_line, Chunk.status)
                                .order_by(Chunk.chunk_no)).all()
    assert spans == [(2, 13, "done"), (14, 25, "done"), (26, 31, "done")]  # header: line 1


def test_watch_runs_until_sigterm_and_finishes_dropped_files(pipeline: PipelineEnv,
                                                             inbox_dir: Path) -> None:
    import signal
    import subprocess

    from tests.clitools import DXCODER

    pipeline.start_worker()
    watcher = subprocess.Popen([DXCODER, "inbox", "watch", str(inbox_dir), "--interval", "0.5",
                                "--settle", "1"], env=pipeline.env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The file arrives after the watcher's first poll (which lays out outbox/, archive/,
        # rejected/), not in the directory it found at start.
        wait_until(lambda: (inbox_dir / "rejected").is_dir(), timeout=60,
                   what="the watcher's first poll")
        part = claims_csv(inbox_dir / "late.csv.part", 40)  # uploaded under .part, then renamed
        part.rename(inbox_dir / "late.csv")
        wait_until(lambda: (inbox_dir / "archive" / "late.csv").exists(), timeout=180,
                   what="the watcher to archive the file")
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "submitted late.csv as job" in out and "late.csv: archived" in out
    assert len(_rows(inbox_dir / "outbox" / "late.csv.results.csv")) == 40
    assert job_count() == 1
