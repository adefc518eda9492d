"""Producer: stream a claims file into staged lines, a job and its chunks, then enqueue chunk ids.

Everything about a job is written in one transaction before any message is sent, so a submit
cut off part-way leaves no job; a job whose messages were not all sent is completed by the
reconciler (its chunks carry no `enqueued_at`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from worker import db
from worker.bulk import copy_rows
from worker.codesets import catalog
from worker.ingest import Source, SourceLine, open_source
from worker.models import Chunk, Job, utcnow
from worker.settings import get_settings

log = logging.getLogger("dxcoder.producer")

# Enqueue callback: (chunk ids, priority) -> None; raises on broker failure.
Enqueue = Callable[[Sequence[int], int], None]
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


# What json.dumps(extra, ensure_ascii=False) uses, built once instead of once per line.
_EXTRA_JSON = json.JSONEncoder(ensure_ascii=False)
# Distinct pass-through value sets remembered while staging; past this the memo starts over.
_EXTRA_MEMO = 4096


def _staged_rows(job_id: str, lines: Iterator[SourceLine], counter: list[int]
                 ) -> Iterator[tuple[object, ...]]:
    # Pass-through columns (payer, plan, ...) repeat from line to line: encode each distinct set
    # once. extra maps str to str, so equal items always encode to the same JSON.
    encoded: dict[tuple[tuple[str, str], ...], str] = {}
    for line in lines:
        counter[0] = line.line_no
        extra = ""
        if line.extra:
            items = tuple(line.extra.items())
            extra = encoded.get(items, "")
            if not extra:
                if len(encoded) >= _EXTRA_MEMO:
                    encoded.clear()
                extra = encoded[items] = _EXTRA_JSON.encode(line.extra)
        yield (job_id, line.line_no, line.id, line.term, line.system, line.date_of_service,
               extra, line.error)


def stage(session: Session, path: Path, source: Source, *, name: str, digest: str,
          release: str | None, chunk_size: int) -> tuple[Job, list[int]]:
    """Write job, staged lines and chunks inside `session`'s transaction; return job and chunk ids."""
    if release:
        catalog.release_by_label(session, release)  # refuse an unknown label before staging
    job = Job(id=uuid.uuid4().hex, name=name, source_file=path.name, content_hash=digest,
              format=source.format, release_label=release, status="staging")
    session.add(job)
    session.flush()
    counter = [0]
    copy_rows(session, "input_line",
              ("job_id", "line_no", "entry_id", "term", "system", "date_of_service", "extra",
               "error"),
              _staged_rows(job.id, iter(source), counter))
    total = counter[0]
    rows = [
        {"job_id": job.id, "chunk_no": n, "first_line": first,
         "last_line": min(first + chunk_size - 1, total), "status": "queued"}
        for n, first in enumerate(range(1, total + 1, chunk_size), start=1)
    ]
    if rows:
        session.execute(insert(Chunk), rows)
    job.total_lines, job.chunk_count = total, len(rows)
    job.status = "queued" if rows else "done"
    if not rows:
        job.finished_at = utcnow()
        job.summary = {"lines": 0, "by_status": {}, "by_method": {}}
    session.flush()
    chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.job_id == job.id)
                                     .order_by(Chunk.chunk_no)))
    return job, chunk_ids


def find_existing(session: Session, digest: str, release: str | None) -> Job | None:
    return session.scalar(
        select(Job).where(Job.content_hash == digest, Job.release_label.is_(None) if release is None
                          else Job.release_label == release)
        .order_by(Job.created_at.desc()).limit(1))


def submit(path: str | os.PathLike[str], *, enqueue: Enqueue | None, name: str | None = None,
           release: str | None = None, force: bool = False, format: str | None = None,
           columns: dict[str, str | None] | None = None) -> Submitted:
    """Stage `path` as a job and enqueue its chunks (enqueue=None: the caller runs them itself).

    The same content (and release) submitted again returns the existing job unless `force`.
    """
    file = Path(path)
    source = open_source(file, format=format, **(columns or {}))  # FileRejected before any job
    digest = content_hash(file)
    settings = get_settings()
    with db.session_scope() as session:
        if not force:
            existing = find_existing(session, digest, release)
            if existing is not None:
                return Submitted(existing.id, existing.total_lines, existing.chunk_count, True,
                                 tuple(source.warnings))
        job, chunk_ids = stage(session, file, source, name=name or file.name, digest=digest,
                               release=release, chunk_size=settings.chunk_size)
        job_id, lines = job.id, job.total_lines
    log.info("job.staged", extra={"job_id": job_id, "lines": lines, "chunks": len(chunk_ids),
                                  "format": source.format})
    if enqueue is not None and chunk_ids:
        enqueue_chunks(chunk_ids, enqueue)
    return Submitted(job_id, lines, len(chunk_ids), False, tuple(source.warnings))


def enqueue_chunks(chunk_ids: Sequence[int], enqueue: Enqueue, *, batch: int = 500) -> None:
    """Send chunk ids and stamp them enqueued; stops at the first broker failure (re-raised).

    Chunks left without `enqueued_at` are the reconciler's to send.
    """
    with db.session_scope() as session:
        count = session.scalar(select(Job.chunk_count).join(Chunk, Chunk.job_id == Job.id)
                               .where(Chunk.id == chunk_ids[0])) or len(chunk_ids)
    priority = priority_for(count)
    for start in range(0, len(chunk_ids), batch):
        part = list(chunk_ids[start:start + batch])
        enqueue(part, priority)
        lease = utcnow() + dt.timedelta(seconds=get_settings().lease_seconds)
        with db.session_scope() as session:
            session.execute(update(Chunk).where(Chunk.id.in_(part), Chunk.status == "queued")
                            .values(enqueued_at=utcnow(), lease_until=lease))

