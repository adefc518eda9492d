"""Read a job's results: one row per input line, in input order, page by page.

worker/pipeline/export.py turns them into files."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, func, select

from worker import contract, db
from worker.lifecycle import partitions
from worker.models import InputLine
from worker.models import Result as ResultRow
from worker.pipeline.jobs import get_job

_STREAM_BATCH = 5000
# Claims files repeat a few pass-through values (payer, plan, ...): each distinct `extra` text is
# parsed once per export. Bounded, so a file whose extras are all different costs no memory.
EXTRA_CACHE = 4096

# The result's columns in contract.RESULT_FIELDS order, then the line's pass-through JSON.
RESULT_COLUMNS = (ResultRow.line_no, ResultRow.entry_id, ResultRow.input, ResultRow.status,
                  ResultRow.code, ResultRow.description, ResultRow.method, ResultRow.confidence,
                  ResultRow.code_set, ResultRow.alternatives, ResultRow.message,
                  ResultRow.date_of_service)
CONFIDENCE_AT = contract.RESULT_FIELDS.index("confidence")
DOS_AT = contract.RESULT_FIELDS.index("date_of_service")  # where the reusable tail ends
INPUT_AT = contract.RESULT_FIELDS.index("input")  # where a CSV line's reusable tail starts
EXTRA_AT = len(RESULT_COLUMNS)


def stored_confidence(value: Any) -> float:
    """A confidence as both formats write it: rounded as stored, and never -0.0. Neither
    database gives a negative zero back, and it equals 0.0 as a cache key, so a cache would
    write whichever of the two came first."""
    return round(float(value), 4) + 0.0  # float(): an in-memory result's 1 is 1.0


def iso_date(value: Any) -> str | None:
    """A date of service as ISO text, however it arrives: a date (PostgreSQL, or a result just
    resolved in memory), the ISO text SQLite stores, or None."""
    return value.isoformat() if isinstance(value, dt.date) else value


def result_pages(job_id: str, spans: Iterable[tuple[int, int]] | None = None,
                 status: str | None = None) -> Iterator[Sequence[tuple[Any, ...]]]:
    """Plain tuples of RESULT_COLUMNS + (extra,), in line order, one page of line numbers at a time.

    `spans`: the (first, last) line ranges to read, in order; they may arrive while the job is
    still running (each page is its own statement, so it sees every result committed before it).
    None: the whole job. `status`: only lines of that status (`results --status`).

    Each page is a range of line numbers on both tables, not `line_no > last ... LIMIT n`: before
    the new rows are analyzed (a job is exported right after it is written) PostgreSQL plans the
    LIMIT query as "join every line after `last`, then sort", which makes the export quadratic
    (200k lines: 13-20 s). A range bounds each page's work to its own lines whatever the plan.
    """
    after, through = bindparam("after", type_=Integer), bindparam("through", type_=Integer)
    if spans is None:  # a whole job, likely just finished: see analyze_new
        partitions.analyze_new(db.get_engine(), job_id)
    with db.session_scope() as session:
        job = get_job(session, job_id)
        if spans is None:
            last_line = session.scalar(select(func.max(ResultRow.line_no))
                                       .where(ResultRow.job_id == job.id)) or 0
            spans = [(1, last_line)]
        page = (select(*RESULT_COLUMNS, InputLine.extra)
                .join(InputLine, (InputLine.job_id == ResultRow.job_id)
                      & (InputLine.line_no == ResultRow.line_no))
                .where(ResultRow.job_id == job.id, ResultRow.line_no > after,
                       ResultRow.line_no <= through, InputLine.job_id == job.id,
                       InputLine.line_no > after, InputLine.line_no <= through)
                .order_by(ResultRow.line_no))
        if status is not None:
            page = page.where(ResultRow.status == status)
        # Run on the DBAPI cursor: plain tuples instead of SQLAlchemy Row objects (compiled
        # extensions and all) take a 1M-line CSV export from 7.4 to 5.9 s of CPU. The columns
        # need no result processing (text, integer and float come back as str, int and float on
        # both backends).
        for first, last in spans:
            for start in range(first - 1, last, _STREAM_BATCH):
                yield db.fetch_tuples(session, page, {
                    "after": start, "through": min(start + _STREAM_BATCH, last)})


def iter_results(job_id: str) -> Iterator[dict[str, Any]]:
    """Result rows joined with each line's pass-through columns, in line order, batch by batch."""
    parse_extra = functools.lru_cache(maxsize=EXTRA_CACHE)(json.loads)
    for page in result_pages(job_id):
        for row in page:
            record = dict(zip(contract.RESULT_FIELDS, row[:EXTRA_AT], strict=True))
            record["confidence"] = stored_confidence(record["confidence"])
            record["date_of_service"] = iso_date(record["date_of_service"])
            if row[EXTRA_AT]:
                record["extra"] = dict(parse_extra(row[EXTRA_AT]))  # a copy the caller may change
            yield record


def extra_columns(job_id: str) -> list[str]:
    """Pass-through column names in order of first appearance.

    A CSV's header fixes them, so its first line with any says all; JSONL keys and X12's optional
    `poa` vary by line, so those jobs are read to the end (names only, batch by batch).
    """
    names: dict[str, None] = {}
    with db.session_scope() as session:
        job = get_job(session, job_id)
        last = 0
        while True:
            rows = session.execute(
                select(InputLine.line_no, InputLine.extra)
                .where(InputLine.job_id == job.id, InputLine.line_no > last, InputLine.extra != "")
                .order_by(InputLine.line_no).limit(_STREAM_BATCH)).all()
            for _, extra in rows:
                names.update(dict.fromkeys(json.loads(extra)))
            if not rows or (job.format == "csv" and names):
                return list(names)
            last = rows[-1][0]


