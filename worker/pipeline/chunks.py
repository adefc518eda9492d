"""Resolve one job chunk: lease it, read its lines in one query, resolve in memory, write idempotently.

Three short transactions: (1) lease: count the attempt (worker.pipeline.lease); (2) read the lines;
(3) write results with INSERT .. ON CONFLICT DO NOTHING, mark the chunk done, count the job,
store the metrics record. A chunk delivered twice, or twice at once, ends with one result per
line and is counted once.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from worker import contract, db
from worker.bulk import copy_csv_text
from worker.contract import Result
from worker.csvcells import copy_cells
from worker.memo import remember
from worker.models import Chunk, Job, TaskMetric, utcnow
from worker.pipeline import chunk_edits, lease
from worker.pipeline.jobs import ChunkState, JobState
from worker.pipeline.lease import ChunkLease, elapsed_ms
from worker.settings import get_settings

log = logging.getLogger("dxcoder.chunk")

HOST = socket.gethostname()
# The job and the time first, then the result's fields (contract.RESULT_FIELDS order).
RESULT_COLUMNS = ("job_id", "resolved_at", "line_no", "entry_id", "input", "status", "code",
                  "description", "method", "confidence", "code_set", "alternatives", "message",
                  "date_of_service")


@dataclasses.dataclass
class ChunkReport:
    """What one task run did: the `chunk.resolved` metrics record."""

    outcome: str  # done | skipped | exhausted
    chunk_id: int
    task_id: str = ""
    task_name: str = "dxcoder.resolve_chunk"
    job_id: str | None = None
    chunk_no: int | None = None
    attempt: int = 0
    retries: int = 0  # Celery retries of this message before this run (outages, timeouts)
    lines: int = 0  # results this run wrote (a redelivered chunk writes 0)
    distinct_terms: int = 0
    cache_hits: int = 0
    by_status: dict[str, int] = dataclasses.field(default_factory=dict)
    by_method: dict[str, int] = dataclasses.field(default_factory=dict)
    read_ms: float = 0.0
    resolve_ms: float = 0.0
    write_ms: float = 0.0
    total_ms: float = 0.0
    job_finished: bool = False
    edits: dict[str, int] = dataclasses.field(default_factory=dict)  # the job's, if it finished
    host: str = HOST
    pid: int = dataclasses.field(default_factory=os.getpid)
    breakers: dict[str, str] = dataclasses.field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def take_lease(session: Session, chunk_id: int) -> tuple[ChunkLease, str | None] | None:
    """Count a delivery, take the lease and mark the job running; returns the lease and the
    job's pinned release, or None when the chunk is already finished."""
    taken = lease.take_lease(session, lease.JOB_CHUNKS, chunk_id)
    if taken is None:
        return None
    release = session.scalar(select(Job.release_label).where(Job.id == taken.job_id))
    session.execute(update(Job).where(Job.id == taken.job_id, Job.status == JobState.QUEUED)
                    .values(status=JobState.RUNNING, started_at=utcnow()))
    return taken, release


_READ_LINES = text(
    "SELECT line_no, entry_id, term, system, date_of_service, error FROM input_line "
    "WHERE job_id = :job_id AND line_no BETWEEN :first AND :last ORDER BY line_no")
_UNSEEN: Any = object()  # a date cell not parsed yet (None is a valid cell: no date)


class Line(NamedTuple):
    """A staged line as the chunk reads it."""

    line_no: int
    entry_id: str
    term: str
    system: str
    date_of_service: dt.date | None
    error: str


def read_lines(session: Session, c: ChunkLease) -> list[Line]:
    """The chunk's staged lines as plain tuples, in one query.

    Plain SQL on the DBAPI cursor rather than the ORM: 2,000 rows per chunk, and per-row type
    processing was a fifth of a chunk's time. SQLite hands dates back as ISO text; they are
    parsed once each.
    """
    rows = db.fetch_tuples(session, _READ_LINES, {"job_id": c.job_id, "first": c.first_line,
                                                  "last": c.last_line})
    dates: dict[Any, dt.date | None] = {None: None}
    lines = []
    for line_no, entry_id, term, system, on, error in rows:
        day = dates.get(on, _UNSEEN)
        if day is _UNSEEN:
            day = dates[on] = on if isinstance(on, dt.date) else dt.date.fromisoformat(on)
        lines.append(Line(line_no, entry_id, term, system, day, error))
    return lines


# A result as a plain tuple in contract.RESULT_FIELDS order (line_no, id, input, status, ..):
# a million of them are made per million lines, and a tuple joins the row being written as is.
ResultTuple = tuple[Any, ...]
_STATUS = contract.RESULT_FIELDS.index("status")
_METHOD = contract.RESULT_FIELDS.index("method")
_DOS = contract.RESULT_FIELDS.index("date_of_service")


def resolve_lines(lines: Sequence[Line], release: str | None
                  ) -> tuple[list[ResultTuple], int, int]:
    """Results in line order; lines the reader marked bad become invalid_input without resolving.

    Returns (results, distinct terms, resolver cache hits).
    """
    from worker.resolver import get_resolver

    items = [(line.term, line.system, line.date_of_service) for line in lines if not line.error]
    resolver = get_resolver()
    hits_before = resolver.cache_hits
    fields = iter(resolver.resolve_terms(items, release=release) if items else ())
    cache_hits = resolver.cache_hits - hits_before
    # line[:3] is (line_no, entry_id, term): the result's first three fields; its date of
    # service is the last.
    results = [_line_result(line, contract.INVALID_INPUT, line.error) if line.error
               else line[:3] + next(fields) + (line.date_of_service,) for line in lines]
    return results, len(set(items)), cache_hits


def _line_result(line: Line, status: str, message: str) -> ResultTuple:
    return tuple(dataclasses.astuple(Result(line.line_no, line.entry_id, line.term, status,
                                            message=message,
                                            date_of_service=line.date_of_service)))


def insert_results(session: Session, job_id: str, results: Sequence[ResultTuple]) -> int:
    """Insert results that are not there yet; returns how many this call wrote."""
    now = utcnow()
    columns = ", ".join(RESULT_COLUMNS)
    if db.is_postgres(session):
        # Made once per pooled connection and emptied by every commit: creating and dropping
        # it per chunk cost catalog writes on each task.
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS result_stage "
                             "(LIKE result INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
        # The timestamp as ISO text, made once: COPY's writer would format it on every row.
        copy_csv_text(session, "result_stage", RESULT_COLUMNS,
                      _copy_text(job_id, now.isoformat(), results))
        written = session.execute(text(
            f"INSERT INTO result ({columns}) SELECT {columns} FROM result_stage "
            "ON CONFLICT (job_id, line_no) DO NOTHING"))
        return int(written.rowcount)  # type: ignore[attr-defined]
    # SQLite: one executemany that skips lines already written (its rowcount sums the inserts).
    # The timestamp goes in as SQLAlchemy stores a SQLite DATETIME: naive UTC text.
    stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT OR IGNORE INTO result ({columns}) "
                           f"VALUES ({', '.join('?' for _ in RESULT_COLUMNS)})",
                           _rows(job_id, results, stamp))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _rows(job_id: str, results: Sequence[ResultTuple], stamp: str) -> list[tuple[Any, ...]]:
    """Rows in RESULT_COLUMNS order: the job, when it was decided, the result's fields."""
    head = (job_id, stamp)
    return [head + result[:_DOS] + (iso_date(result[_DOS]),) for result in results]


def iso_date(day: dt.date | str | None) -> str | None:
    """A date of service as ISO text (SQLite and COPY take it so; SQLite gives it back so)."""
    return day.isoformat() if isinstance(day, dt.date) else day


# A result's fields from the input on (input, status, code, .., message) repeat across a job as
# its terms do: each distinct run of them is written as CSV once per process and then reused.
# Writing every cell of every result through the csv module was about a seventh of a worker's
# time. Bounded (remember): about 300 bytes each, so at most 30 MB.
_COPY_TAILS: dict[tuple[Any, ...], str] = {}
_COPY_TAIL_MEMO = 100_000
_FROM_INPUT = contract.RESULT_FIELDS.index("input")


def _copy_text(job_id: str, stamp: str, results: Sequence[ResultTuple]) -> str:
    """The rows of _rows as COPY CSV text, exactly as copy_rows would write them."""
    head = copy_cells((job_id, stamp))
    tails, lines = _COPY_TAILS, []
    days: dict[Any, str] = {None: ""}  # unquoted empty: NULL
    for result in results:
        key = result[_FROM_INPUT:_DOS]
        tail = tails.get(key)
        if tail is None:
            tail = remember(tails, key, copy_cells(key), _COPY_TAIL_MEMO)
        day = days.get(result[_DOS])
        if day is None:
            day = days[result[_DOS]] = str(iso_date(result[_DOS]))
        entry_id = result[1].replace('"', '""')
        lines.append(f'{head},{result[0]},"{entry_id}",{tail},{day}\n')
    return "".join(lines)


def store_metrics(session: Session, report: ChunkReport) -> None:
    session.add(TaskMetric(task_id=report.task_id, task_name=report.task_name,
                           job_id=report.job_id, chunk_no=report.chunk_no, attempt=report.attempt,
                           outcome=report.outcome, lines=report.lines, total_ms=report.total_ms,
                           record=report.record()))


def process_chunk(chunk_id: int, *, task_id: str = "", breakers: dict[str, str] | None = None,
                  retries: int = 0) -> ChunkReport:
    """Resolve one chunk end to end. Transient database errors propagate (the task retries)."""
    return process_chunk_results(chunk_id, task_id=task_id, breakers=breakers, retries=retries)[0]


def process_chunk_results(chunk_id: int, *, task_id: str = "",
                          breakers: dict[str, str] | None = None, retries: int = 0
                          ) -> tuple[ChunkReport, list[ResultTuple] | None]:
    """process_chunk, also returning the results when this run wrote every line of the chunk
    (as committed, in line order); None when it wrote fewer (a redelivery, a chunk given up)."""
    started = time.perf_counter()
    settings = get_settings()
    report = ChunkReport(outcome="skipped", chunk_id=chunk_id, task_id=task_id,
                         breakers=breakers or {}, retries=retries)
    with db.session_scope() as session:
        taken = take_lease(session, chunk_id)
    c, release = taken if taken is not None else (None, None)
    if c is not None and c.attempts <= settings.max_attempts:
        # A transaction of its own: on SQLite the claim's holds the one write lock, which the
        # other processes wait for while it lasts.
        with db.session_scope() as session:
            lines = read_lines(session, c)
    if c is None:
        # Redelivered after it finished (or a duplicate message): nothing to do, but say so.
        with db.session_scope() as session:
            row = session.execute(select(Chunk.job_id, Chunk.chunk_no)
                                  .where(Chunk.id == chunk_id)).first()
            if row is not None:
                report.job_id, report.chunk_no = row.job_id, row.chunk_no
                report.total_ms = elapsed_ms(started)
                store_metrics(session, report)
        log.info("chunk.skipped", extra=report.record())
        return report, None
    report.job_id, report.chunk_no, report.attempt = c.job_id, c.chunk_no, c.attempts
    if c.attempts > settings.max_attempts:
        return give_up(c, f"gave up after {c.attempts - 1} deliveries", report, started), None
    report.read_ms = elapsed_ms(started)

    t_resolve = time.perf_counter()
    results, report.distinct_terms, report.cache_hits = resolve_lines(lines, release)
    report.resolve_ms = elapsed_ms(t_resolve)
    # Checked while the results are in memory, stored with them: the task that finishes the
    # job then checks only the claims across chunk boundaries.
    inner_edits = (chunk_edits.check_chunk(c.job_id, c.first_line, c.last_line, lines, results)
                   if settings.claim_edits else None)

    t_write = time.perf_counter()
    with db.session_scope() as session:
        if lease.mark_finished(session, c, ChunkState.DONE, claim_edits=inner_edits):
            report.lines = insert_results(session, c.job_id, results)
            report.job_finished = lease.count_on_parent(session, c)
        report.outcome = "done"
        report.by_status = dict(collections.Counter(r[_STATUS] for r in results))
        report.by_method = dict(collections.Counter(r[_METHOD] or "none" for r in results))
        report.write_ms = elapsed_ms(t_write)
        report.total_ms = elapsed_ms(started)
        store_metrics(session, report)
    _check_claims(report)
    log.info("chunk.resolved", extra=report.record())
    return report, results if report.lines == len(results) else None


def give_up(c: ChunkLease, reason: str, report: ChunkReport, started: float) -> ChunkReport:
    """Lines still without a result get status `error` with the reason; the chunk counts as done."""
    with db.session_scope() as session:
        previous = lease.last_error(session, c)
        message = f"{reason}: {previous}" if previous else reason
        lines = read_lines(session, c)
        results = [_line_result(line, contract.ERROR, f"{message}; run `dxcoder retry {c.job_id}`")
                   for line in lines]
        given_up = lease.give_up(session, c, message,
                                 lambda session: insert_results(session, c.job_id, results))
        if given_up is not None:
            report.lines, report.job_finished = given_up
        report.outcome = "exhausted"
        report.by_status = {contract.ERROR: report.lines}
        # As a resolved chunk counts its lines that no stage decided: every line has a method.
        report.by_method = {"none": report.lines} if report.lines else {}
        report.total_ms = elapsed_ms(started)
        store_metrics(session, report)
    _check_claims(report)
    log.error("chunk.exhausted", extra=report.record())
    return report


def _check_claims(report: ChunkReport) -> None:
    """The task that finished its job counts the job's claim edits, once its results are
    committed (claims span chunks), and counts them in its metrics record."""
    if not report.job_finished or report.job_id is None:
        return
    found = count_claim_edits(report.job_id)
    if found is None:
        return
    report.edits = found
    with db.session_scope() as session:
        session.execute(update(TaskMetric).where(
            TaskMetric.task_id == report.task_id, TaskMetric.job_id == report.job_id,
            TaskMetric.chunk_no == report.chunk_no, TaskMetric.attempt == report.attempt)
            .values(record=report.record()))


def count_claim_edits(job_id: str) -> dict[str, int] | None:
    """A finished job's claim edits, kept in its summary (chunk_edits.finish_job); None when
    they are off or could not be counted: they are advisory, the job's results stand, and
    `dxcoder edits` checks again."""
    if not get_settings().claim_edits:
        return None
    try:
        return chunk_edits.finish_job(job_id)
    except Exception as exc:
        log.error("job.edits_failed", extra={"job_id": job_id, "error": type(exc).__name__})
        return None
