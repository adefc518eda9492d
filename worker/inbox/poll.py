"""The inbox state machine: each dropped file goes seen -> submitted -> done -> archived, or rejected.

One row of `inbox_file` per (inbox, content hash) is the file's memory. Every step first does its
work and then records the new state, and every step is safe to repeat, so a poller that dies
between any two steps is finished by the next poll with nothing lost and nothing doubled:

- seen: the row is committed before the submit. Submitting again after a crash finds the job by
  its content hash (producer.submit without force) instead of creating a second one.
- submitted: waits for the job; then writes outbox/NAME.results.csv through a temporary file and a
  rename (repeating it rewrites the same file).
- done: moves the source (and its .done/.ok marker) to archive/ (a crash after the move leaves
  the source gone: the next poll just records `archived`) -- unless the file changed after it
  was read: then the row is `superseded`, the file stays, and once it is unchanged again its new
  content is taken as a file of its own (never half a file processed and the rest archived).
  A new content taken under the name of an unfinished row supersedes that row too, so a late
  job of the old content never writes the outbox over the new one's results.
- rejected: writes rejected/NAME.error.txt, then moves the file beside it.
Polls of one inbox never overlap: on PostgreSQL an advisory lock is held for the whole poll, so the
beat task and a `dxcoder inbox watch` can run at once.
Logs name a file by its `inbox_file` row id, never by its name: senders name files after patients.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import sqlalchemy.exc
from sqlalchemy import select, text, update

from worker import db
from worker.errors import FileRejected, UnsafePath, is_transient
from worker.inbox import files
from worker.models import Chunk, InboxFile, utcnow
from worker.pipeline import producer
from worker.pipeline.export import export_results, write_atomically
from worker.pipeline.jobs import ChunkState, job_status
from worker.settings import get_settings

log = logging.getLogger("dxcoder.inbox")

SEEN, SUBMITTED, DONE, ARCHIVED, REJECTED = "seen", "submitted", "done", "archived", "rejected"
SUPERSEDED = "superseded"  # the file changed after it was read; its new content has its own row
UNFINISHED = (SEEN, SUBMITTED, DONE)

# Content hashes of files already read, by (path, size, mtime_ns, inode): a file waiting for its
# job is not read again on every poll, also across the beat task's polls in one worker process.
_HASHES: dict[tuple[str, int, int, int], str] = {}
_HASHES_KEPT = 10_000

CHANGED = ("changed after it was read, so it was not archived; it is read again, as a file of "
           "its own, once unchanged")

# Test hook: called with (step, file name) at every step boundary; raising there is a crash.
Checkpoint = Callable[[str, str], None]
_checkpoint: Checkpoint | None = None


def set_checkpoint(hook: Checkpoint | None) -> None:
    """Install (or remove with None) the step-boundary hook the crash tests use."""
    global _checkpoint
    _checkpoint = hook


def _boundary(step: str, name: str) -> None:
    if _checkpoint is not None:
        _checkpoint(step, name)


@dataclasses.dataclass
class PollReport:
    """What one poll did, file by file (names only, never content)."""

    submitted: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, job id)
    completed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, outbox)
    archived: list[str] = dataclasses.field(default_factory=list)
    rejected: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, reason)
    waiting: list[str] = dataclasses.field(default_factory=list)  # job still running
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # transient, retried
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, why it waits)
    busy: bool = False  # another poller holds this inbox

    @property
    def in_flight(self) -> bool:
        return bool(self.waiting or self.failed or self.submitted or self.completed)


def results_name(name: str) -> str:
    return f"{name}.results.csv"


class Inbox:
    """A watched directory and the rows that remember its files."""

    def __init__(self, directory: str | os.PathLike[str], *,
                 send: producer.Send | None, settle_seconds: float,
                 run_inline: bool = False, processes: int = 1,
                 require_marker: bool | None = None) -> None:
        """send: how chunks reach the workers (None: staged only); run_inline: no workers, run
        chunks here
        (the embedded mode); require_marker: take a file only once NAME.done or NAME.ok exists
        (default: DXCODER_INBOX_REQUIRE_MARKER)."""
        self.root = Path(os.path.realpath(directory))
        if not self.root.is_dir():
            raise FileNotFoundError(f"inbox {directory} is not a directory")
        self.send, self.settle_seconds = send, settle_seconds
        self.run_inline, self.processes = run_inline, processes
        self.require_marker = (get_settings().inbox_require_marker if require_marker is None
                               else require_marker)
        self._parts: set[str] = set()

    def poll(self) -> PollReport:
        """One pass: take ready files, move every unfinished one as far as it can go."""
        report = PollReport()
        files.layout(self.root)
        with self._exclusive() as mine:
            if not mine:
                report.busy = True
                return report
            parts_now = files.parts(self.root)
            renamed, self._parts = self._parts - parts_now, parts_now
            touched: set[int] = set()
            looked = files.scan(self.root, self.settle_seconds, renamed,
                                require_marker=self.require_marker)
            report.skipped.extend(looked.skipped)
            for candidate in looked.ready:
                try:
                    row_id = self._take(candidate, report)
                    if row_id is not None:
                        touched.add(row_id)
                        self._advance(row_id, report)
                except FileNotFoundError:
                    continue  # taken away while we looked: nothing to do
                except Exception as exc:  # transient or not, one file never stops the others
                    self._failed(report, candidate.name, exc)
            for row_id in self._unfinished(exclude=touched):
                try:
                    self._advance(row_id, report, present_only_if_taken=True)
                except Exception as exc:
                    self._failed(report, str(row_id), exc, row_id)
        return report

    # -- taking a file --------------------------------------------------------------------

    def _take(self, candidate: files.Candidate, report: PollReport) -> int | None:
        """The row id of a ready file (inserted as `seen` if new), or None when it is refused."""
        if candidate.refusal:
            self._reject_file(candidate.path, candidate.refusal, report)
            return None
        key = (str(candidate.path), candidate.size, candidate.mtime_ns, candidate.inode)
        digest = _HASHES.get(key)
        if digest is None:
            try:
                digest, after = files.content_hash(candidate.path)
            except FileNotFoundError:
                raise
            except OSError as exc:
                reason = f"cannot be read ({exc.strerror or exc}); check its permissions"
                self._reject_file(candidate.path, reason, report)
                return None
            if (after.st_size, after.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                report.skipped.append((candidate.name, "changed while it was read; taken once "
                                       "unchanged"))
                return None  # written to while we read it: not settled after all
            if len(_HASHES) >= _HASHES_KEPT:
                _HASHES.clear()
            _HASHES[key] = digest
        row = self._row(digest, candidate.name, candidate.size)
        self._supersede_others(candidate.name, row.id)
        if row.state == SUPERSEDED:
            # The content it had when first read is back under a name: take it afresh (the
            # submit finds its job by content hash, so no second job).
            self._set(row.id, state=SEEN, name=candidate.name, job_id=None, error="")
            return row.id
        if row.name == candidate.name and row.state != ARCHIVED:
            return row.id
        own_file_gone = not (self.root / row.name).exists()
        if row.state in UNFINISHED and own_file_gone:
            self._set(row.id, name=candidate.name)  # the file was renamed in the inbox
            return row.id
        if row.state == REJECTED:
            reason = f"same content as {row.name}, which was refused: {row.error}"
        else:
            where = f"; its results are in {files.OUTBOX}/{results_name(row.name)}" \
                if row.state in (DONE, ARCHIVED) else ""
            reason = (f"same content as {row.name}, already submitted as job {row.job_id}{where}. "
                      "To process it again, run `dxcoder submit --force` on it")
        self._reject_file(candidate.path, reason, report)
        return None

    def _row(self, digest: str, name: str, size: int) -> InboxFile:
        with db.session_scope() as session:
            if db.is_postgres(session):
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            session.execute(insert(InboxFile).values(
                inbox=str(self.root), name=name, content_hash=digest, size=size, state=SEEN,
                job_id=None, error="", first_seen_at=utcnow(), updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=["inbox", "content_hash"]))
            row = session.scalar(select(InboxFile).where(InboxFile.inbox == str(self.root),
                                                         InboxFile.content_hash == digest))
            assert row is not None
            session.expunge(row)
        if row.state == SEEN:
            _boundary("after_seen", name)
        return row

    # -- the state machine ----------------------------------------------------------------

    def _advance(self, row_id: int, report: PollReport, present_only_if_taken: bool = False
                 ) -> None:
        """Run the row's steps until it must wait (job running, file missing) or is final.

        present_only_if_taken: the file was not among this poll's ready files, so a file of that
        name in the inbox is not known to be this content: leave the row until it is.
        """
        while True:
            row = self._load(row_id)
            try:
                path = files.inside(self.root, row.name)
            except UnsafePath:
                # Never follow it; the row keeps its state (its job and results stay reachable)
                # and the scan moves a symlink put in the file's place to rejected/.
                log.warning("inbox.unsafe_path", extra={"inbox_file_id": row.id})
                return
            present = path.exists()
            if present and present_only_if_taken:
                return
            if row.state == SEEN:
                if not present or not self._submit(row, path, report):
                    return
            elif row.state == SUBMITTED:
                if not self._collect(row, report):
                    return
            elif row.state == DONE:
                if present and self._changed_since_read(row, path):
                    self._set(row.id, state=SUPERSEDED, error=CHANGED)
                    report.skipped.append((row.name, CHANGED))
                    log.warning("inbox.superseded", extra={"inbox_file_id": row.id,
                                                           "job_id": row.job_id})
                    return
                if present:
                    archive = files.subdir(self.root, files.ARCHIVE)
                    for marker in files.markers(self.root, row.name):
                        files.move(marker, archive, row.content_hash[:12])
                    files.move(path, archive, row.content_hash[:12])
                    _boundary("after_archive_move", row.name)
                self._set(row.id, state=ARCHIVED)
                report.archived.append(row.name)
                log.info("inbox.archived", extra={"inbox_file_id": row.id, "job_id": row.job_id})
                return
            elif row.state == REJECTED:
                if present:
                    self._reject_file(path, row.error, report, row.id)
                return
            else:
                return

    def _changed_since_read(self, row: InboxFile, path: Path) -> bool:
        """Whether the file's content is no longer what was read (hashed and submitted)."""
        info = path.stat()
        key = (str(path), info.st_size, info.st_mtime_ns, info.st_ino)
        digest = _HASHES.get(key)
        if digest is None:
            digest, after = files.content_hash(path)
            if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
                return True  # being written right now
        return digest != row.content_hash

    def _supersede_others(self, name: str, row_id: int) -> None:
        """Unfinished rows of an earlier content of this name give way to the content now there."""
        with db.session_scope() as session:
            session.execute(update(InboxFile).where(
                InboxFile.inbox == str(self.root), InboxFile.name == name,
                InboxFile.id != row_id, InboxFile.state.in_(UNFINISHED))
                .values(state=SUPERSEDED, error=CHANGED, updated_at=utcnow()))

    def _submit(self, row: InboxFile, path: Path, report: PollReport) -> bool:
        try:
            # Run here, a file is chunked as `dxcoder run` chunks it; sent to workers, as submit does.
            chunk_size = get_settings().run_chunk_size if self.run_inline else None
            if self.send is None:
                submitted = producer.stage_file(path, name=row.name, chunk_size=chunk_size)
            else:
                submitted = producer.submit(path, send=self.send, name=row.name,
                                            chunk_size=chunk_size)
        except FileRejected as exc:
            self._set(row.id, state=REJECTED, error=exc.problem)
            _boundary("after_rejected", row.name)
            log.warning("inbox.refused", extra={"inbox_file_id": row.id})
            return True
        _boundary("after_submit", row.name)
        self._set(row.id, state=SUBMITTED, job_id=submitted.job_id)
        report.submitted.append((row.name, submitted.job_id))
        log.info("inbox.submitted", extra={"inbox_file_id": row.id, "job_id": submitted.job_id,
                                           "lines": submitted.lines,
                                           "existing": submitted.existing})
        _boundary("after_submitted", row.name)
        return True

    def _collect(self, row: InboxFile, report: PollReport) -> bool:
        assert row.job_id is not None
        status = job_status(row.job_id)
        if not status.finished and self.run_inline:
            self._run_remaining(row.job_id)
            status = job_status(row.job_id)
        if not status.finished:
            report.waiting.append(row.name)
            return False
        target = files.subdir(self.root, files.OUTBOX) / results_name(row.name)

        def write(fh: IO[str]) -> None:
            export_results(status.id, fh, "csv")

        write_atomically(target, write)
        _boundary("after_outbox", row.name)
        self._set(row.id, state=DONE)
        report.completed.append((row.name, str(target.relative_to(self.root))))
        log.info("inbox.completed", extra={"inbox_file_id": row.id, "job_id": row.job_id,
                                           "lines": status.total_lines})
        _boundary("after_done", row.name)
        return True

    def _run_remaining(self, job_id: str) -> None:
        from worker.pipeline.embedded import run_chunks

        with db.session_scope() as session:
            ids = list(session.scalars(select(Chunk.id).where(
                Chunk.job_id == job_id, Chunk.status.in_(ChunkState.UNFINISHED))
                .order_by(Chunk.chunk_no)))
        run_chunks(ids, self.processes)

    def _reject_file(self, path: Path, reason: str, report: PollReport,
                     row_id: int | None = None) -> None:
        """rejected/NAME.error.txt first, then the file: a refused file is never without its why."""
        stamp = dt.datetime.now(dt.UTC)
        target = files.free_name(files.subdir(self.root, files.REJECTED), path.name,
                                 stamp.strftime("%Y%m%dT%H%M%S"))
        note = (f"dxcoder refused {path.name} on {stamp:%Y-%m-%d %H:%M:%S} UTC.\n"
                f"Reason: {reason}\n"
                "What to do: correct the file (or export it again) and drop it in the inbox again.\n")
        error_txt = target.with_name(target.name + ".error.txt")
        def write(fh: IO[str]) -> None:
            fh.write(note)

        write_atomically(error_txt, write)
        _boundary("after_error_txt", path.name)
        if self.require_marker:
            for marker in files.markers(self.root, path.name):
                files.move(marker, target.parent, stamp.strftime("%Y%m%dT%H%M%S"))
        os.rename(path, target)
        report.rejected.append((path.name, reason))
        log.warning("inbox.rejected", extra={"inbox_file_id": row_id})

    # -- rows -----------------------------------------------------------------------------

    def _load(self, row_id: int) -> InboxFile:
        with db.session_scope() as session:
            row = session.get(InboxFile, row_id)
            assert row is not None
            session.expunge(row)
            return row

    def _set(self, row_id: int, **values: object) -> None:
        with db.session_scope() as session:
            session.execute(update(InboxFile).where(InboxFile.id == row_id)
                            .values(updated_at=utcnow(), **values))

    def _unfinished(self, exclude: set[int]) -> list[int]:
        with db.session_scope() as session:
            return [i for i in session.scalars(
                select(InboxFile.id).where(InboxFile.inbox == str(self.root),
                                           InboxFile.state.in_(UNFINISHED))
                .order_by(InboxFile.id)) if i not in exclude]

    def _failed(self, report: PollReport, name: str, exc: BaseException,
                row_id: int | None = None) -> None:
        report.failed.append((name, type(exc).__name__))
        if is_transient(exc):  # it passes: the next poll tries the same step again
            log.warning("inbox.retry_later", extra={"inbox_file_id": row_id,
                                                    "error": type(exc).__name__})
        else:
            # The type only: a message could quote a line of the file (PHI). Details at DEBUG.
            log.error("inbox.failed", extra={"inbox_file_id": row_id, "error": type(exc).__name__})
            log.debug("inbox.failed_detail", exc_info=True)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[bool]:
        """An advisory lock on this inbox for the poll (PostgreSQL); SQLite has one poller."""
        engine = db.get_engine()
        if engine.dialect.name != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(f"dxcoder.inbox:{self.root}".encode()).digest()[:8],
                             "big", signed=True)
        with engine.connect() as conn:
            mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield mine
            finally:
                if mine:
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
                    except sqlalchemy.exc.SQLAlchemyError:
                        conn.invalidate()  # never hand a connection holding the lock back
