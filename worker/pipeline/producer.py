"""Producer: stream a claims file into staged lines, a job and its chunks, then send chunk ids.

A job is staged ten chunks per transaction, and each batch's messages are sent only once it is
committed (a message names committed rows only). A submit cut off part-way deletes what it
staged; a job whose producer was killed is deleted by the reconciler; a job whose messages were
not all sent is completed by the reconciler (its chunks carry no `enqueued_at`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from worker import db
from worker.bulk import copy_rows
from worker.codesets import catalog
from worker.errors import SendFailed, SubmitInterrupted
from worker.ingest import Source, SourceLine, open_source
from worker.lifecycle import partitions
from worker.memo import remember
from worker.models import Chunk, InputLine, Job, TaskMetric, utcnow
from worker.models import Result as ResultRow
from worker.pipeline.chunks import count_claim_edits
from worker.pipeline.jobs import ChunkState, JobState, complete_job
from worker.settings import get_settings

log = logging.getLogger("dxcoder.producer")

# Sends chunk ids at a priority and stamps them sent (tasks.broker.send_job_chunks); raises on
# a broker failure.
Send = Callable[[Sequence[int], int], None]
SMALL_JOB_CHUNKS = 10


@dataclasses.dataclass(frozen=True)
class Submitted:
    job_id: str
    lines: int
    chunks: int
    existing: bool  # the same content was already submitted (and not forced)
    warnings: tuple[str, ...] = ()


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def priority_for(chunk_count: int) -> int:
    """Small jobs jump the queue (Redis priority 0 is served first) so they are never starved."""
    return 0 if chunk_count <= SMALL_JOB_CHUNKS else 5


def job_priority(chunk_ids: Sequence[int]) -> int:
    """The priority of the job the chunks belong to (the first one's), from its chunk count."""
    with db.session_scope() as session:
        count = session.scalar(select(Job.chunk_count).join(Chunk, Chunk.job_id == Job.id)
                               .where(Chunk.id == chunk_ids[0])) or len(chunk_ids)
    return priority_for(count)


# What json.dumps(extra, ensure_ascii=False) uses, built once instead of once per line.
_EXTRA_JSON = json.JSONEncoder(ensure_ascii=False)
# Distinct pass-through value sets remembered while staging (the oldest quarter goes past this).
_EXTRA_MEMO = 4096


def _staged_rows(job_id: str, lines: Iterator[SourceLine]) -> Iterator[tuple[object, ...]]:
    # Pass-through columns (payer, plan, ...) repeat from line to line: encode each distinct set
    # once. extra maps str to str, so equal items always encode to the same JSON.
    encoded: dict[tuple[tuple[str, str], ...], str] = {}
    for line in lines:
        extra = ""
        if line.extra:
            items = tuple(line.extra.items())
            extra = encoded.get(items, "")
            if not extra:
                extra = remember(encoded, items, _EXTRA_JSON.encode(line.extra), _EXTRA_MEMO)
        yield (job_id, line.line_no, line.id, line.term, line.system, line.date_of_service,
               extra, line.error)


_LINE_COLUMNS = ("job_id", "line_no", "entry_id", "term", "system", "date_of_service", "extra",
                 "error")


def _new_job(session: Session, path: Path, source: Source, *, name: str, digest: str,
             release: str | None) -> Job:
    if release:  # refuse an unknown label before staging; store `2025` as FY2025
        release = catalog.release_by_label(session, release).label
    job_id = uuid.uuid4().hex
    partitions.prepare_job(session.get_bind(), job_id)  # committed apart: see prepare_job
    job = Job(id=job_id, name=name, source_file=path.name, content_hash=digest,
              format=source.format, release_label=release, status=JobState.STAGING)
    session.add(job)
    session.flush()
    return job


class _Spans:
    """Cuts staged rows into chunks of `chunk_size` lines as they stream past, remembering each
    chunk's first and last line number. Counted by lines, not by numbers: line numbers are the
    file's physical lines, so they jump past a quoted field's line breaks."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.lines = 0
        self.spans: list[list[int]] = []  # [first line, last line] of each chunk so far

    def track(self, rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
        size = self.chunk_size
        for row in rows:
            line_no = int(row[1])  # type: ignore[call-overload]
            if self.lines % size == 0:
                self.spans.append([line_no, line_no])  # not held in a local: take() replaces it
            else:
                self.spans[-1][1] = line_no
            self.lines += 1
            yield row

    def take(self) -> list[list[int]]:
        """The chunks since the last take (the last one may be short only at the end)."""
        spans, self.spans = self.spans, []
        return spans


def _add_chunks(session: Session, job_id: str, spans: Sequence[Sequence[int]], first_chunk: int
                ) -> list[tuple[int, int, int]]:
    """Chunk rows for the (first line, last line) spans, numbered from first_chunk; returns
    (chunk id, first line, last line) of each, in order."""
    rows = [
        {"job_id": job_id, "chunk_no": first_chunk + i, "first_line": first, "last_line": last,
         "status": ChunkState.QUEUED}
        for i, (first, last) in enumerate(spans)
    ]
    if not rows:
        return []
    session.execute(insert(Chunk), rows)
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(Chunk.id, Chunk.first_line, Chunk.last_line)
        .where(Chunk.job_id == job_id, Chunk.chunk_no >= first_chunk)
        .order_by(Chunk.chunk_no))]


ChunkSpan = tuple[int, int, int]  # chunk id, first line, last line


class BatchStaging:
    """Stage a file as a job a batch of chunks at a time, committing each batch, so that the
    first chunks can be worked on (sent to the workers by `submit`, run in-process by
    `dxcoder run`) while the rest of the file is still being read.

    Until the end the job is `staging`: its chunk count is not known yet, so no chunk can
    complete it. The last step fixes the count and completes the job if its chunks are already
    done. A caller cut off part-way calls `discard_unfinished()` once nothing writes for the job
    any more, so no partial job is left behind (a killed process leaves one that never runs).
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None,
                 release: str | None = None, format: str | None = None,
                 columns: dict[str, str | None] | None = None, batch_chunks: int = 10,
                 chunk_size: int | None = None) -> None:
        """`chunk_size`: lines per chunk (default: the chunk_size setting)."""
        self.path = Path(path)
        self.source = open_source(self.path, format=format, **(columns or {}))  # FileRejected
        self.digest = content_hash(self.path)
        self.name, self.release, self.batch_chunks = name or self.path.name, release, batch_chunks
        self.chunk_size = chunk_size
        self.job_id: str | None = None
        self.submitted: Submitted | None = None  # set once the whole file is staged

    def create_job(self) -> str:
        """Create the job (committed, status `staging`) unless it exists; returns its id."""
        if self.job_id is None:
            with db.session_scope() as session:
                self.job_id = _new_job(session, self.path, self.source, name=self.name,
                                       digest=self.digest, release=self.release).id
        return self.job_id

    def batches(self) -> Iterator[list[ChunkSpan]]:
        """Create the job (unless `create_job` did), then yield the chunks of each batch as
        soon as it is committed; at the end fix the job's counts and set `submitted`."""
        chunk_size = self.chunk_size or get_settings().chunk_size
        job_id = self.create_job()
        tracked = _Spans(chunk_size)
        rows = tracked.track(_staged_rows(job_id, iter(self.source)))
        staged = chunk_count = 0
        while True:
            # Read the batch before the transaction: on SQLite a write transaction locks out
            # the workers' writes, so it must not last as long as parsing the lines does.
            batch = list(itertools.islice(rows, chunk_size * self.batch_chunks))
            with db.session_scope() as session:
                copy_rows(session, "input_line", _LINE_COLUMNS, batch)
                spans = _add_chunks(session, job_id, tracked.take(), chunk_count + 1)
            if not spans:
                break
            staged, chunk_count = tracked.lines, chunk_count + len(spans)
            yield spans
        completed = False
        with db.session_scope() as session:
            started = session.scalar(select(func.min(Chunk.id)).where(
                Chunk.job_id == job_id, Chunk.status != ChunkState.QUEUED)) is not None
            done = session.execute(
                update(Job).where(Job.id == job_id)
                .values(total_lines=staged, chunk_count=chunk_count,
                        status=JobState.RUNNING if started else JobState.QUEUED,
                        started_at=utcnow() if started else None)
                .returning(Job.chunks_done)).scalar_one()
            if done >= chunk_count:  # every chunk finished while the file was read (or none)
                complete_job(session, job_id)
                completed = True
        if completed:  # no chunk's task finished the job, so its claims are counted here
            count_claim_edits(job_id)
        log.info("job.staged", extra={"job_id": job_id, "lines": staged, "chunks": chunk_count,
                                      "format": self.source.format})
        self.submitted = Submitted(job_id, staged, chunk_count, False, tuple(self.source.warnings))

    def discard_unfinished(self) -> bool:
        """Delete the job unless it completed (call once nothing writes for it any more);
        returns True if there was one to delete."""
        if self.job_id is None:
            return False
        with db.session_scope() as session:
            status = session.scalar(select(Job.status).where(Job.id == self.job_id))
        if status in (None, JobState.DONE):
            return False
        discard_job(self.job_id)
        return True


def discard_job(job_id: str) -> None:
    """Delete a job and everything written for it (lines, chunks, results, metrics)."""
    with db.session_scope() as session:
        for table in (ResultRow, TaskMetric, Chunk, InputLine):
            session.execute(delete(table).where(table.job_id == job_id))
        session.execute(delete(Job).where(Job.id == job_id))
    partitions.forget_job(db.get_engine(), job_id)  # its empty partitions, once committed


def find_existing(session: Session, digest: str, release: str | None) -> Job | None:
    """The newest wholly staged job of this content and release (a job still `staging` may
    be one whose producer died; it is not reused)."""
    return session.scalar(
        select(Job).where(Job.content_hash == digest, Job.status != JobState.STAGING,
                          Job.release_label.is_(None) if release is None
                          else Job.release_label == release)
        .order_by(Job.created_at.desc()).limit(1))


def submit(path: str | os.PathLike[str], *, send: Send, name: str | None = None,
           release: str | None = None, force: bool = False, format: str | None = None,
           columns: dict[str, str | None] | None = None, chunk_size: int | None = None
           ) -> Submitted:
    """Stage `path` as a job and send its chunks to the workers (`send`: tasks.broker's).

    The file is committed ten chunks at a time and each batch is sent as soon as it is
    committed, so workers start while the rest is read; a submit cut off part-way (Ctrl-C, an
    error reading the file) deletes what it staged and raises SubmitInterrupted or the error. A
    broker failure stops the sending, not the staging: the whole job is stored, the reconciler
    sends the rest, and SendFailed (naming the job) is raised at the end.
    The same content (and release) submitted again returns the existing job unless `force`.
    `chunk_size`: lines per chunk (default: the chunk_size setting).
    """
    return _stage_in_batches(Path(path), send, name=name, release=release, force=force,
                             format=format, columns=columns, chunk_size=chunk_size)


def stage_file(path: str | os.PathLike[str], *, name: str | None = None,
               release: str | None = None, force: bool = False, format: str | None = None,
               columns: dict[str, str | None] | None = None, chunk_size: int | None = None
               ) -> Submitted:
    """Stage `path` as a job the way `submit` does, batch by batch, but send nothing: the
    caller runs its chunks here (the inbox's embedded mode) or sends them itself."""
    return _stage_in_batches(Path(path), None, name=name, release=release, force=force,
                             format=format, columns=columns, chunk_size=chunk_size)


def _stage_in_batches(file: Path, send: Send | None, *, name: str | None, release: str | None,
                      force: bool, format: str | None, columns: dict[str, str | None] | None,
                      chunk_size: int | None) -> Submitted:
    # A batch of SMALL_JOB_CHUNKS chunks: a job with a second batch is not a small one.
    staging = BatchStaging(file, name=name, release=release, format=format, columns=columns,
                           batch_chunks=SMALL_JOB_CHUNKS, chunk_size=chunk_size)
    large = priority_for(SMALL_JOB_CHUNKS + 1)
    if not force:
        with db.session_scope() as session:
            existing = find_existing(session, staging.digest, release)
            if existing is not None:
                return Submitted(existing.id, existing.total_lines, existing.chunk_count, True,
                                 tuple(staging.source.warnings))
    failure: Exception | None = None

    def send_batch(chunk_ids: list[int], priority: int) -> None:
        nonlocal failure
        if send is not None and failure is None:  # after a failure the reconciler sends the rest
            try:
                send(chunk_ids, priority)
            except Exception as exc:
                failure = exc

    first: list[int] | None = None  # held until we know whether the job is small
    try:
        for batch in staging.batches():
            chunk_ids = [chunk_id for chunk_id, _, _ in batch]
            if first is None:
                first = chunk_ids
                continue
            if first:
                send_batch(first, large)
                first = []
            send_batch(chunk_ids, large)
        if first:
            send_batch(first, priority_for(len(first)))
    except KeyboardInterrupt as exc:
        deleted = staging.discard_unfinished()
        raise SubmitInterrupted(None if deleted else staging.job_id) from exc
    except BaseException:
        staging.discard_unfinished()
        raise
    if failure is not None:
        assert staging.job_id is not None
        raise SendFailed(staging.job_id, failure) from failure
    assert staging.submitted is not None
    return staging.submitted
