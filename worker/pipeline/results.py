"""Collect a job's results: one row per input line, in input order, streamed to CSV or JSONL."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from json.encoder import encode_basestring
from typing import IO, Any

from sqlalchemy import Integer, bindparam, func, select

from worker import contract, db
from worker.csvcells import cells_text, safe_cells, safe_row
from worker.lifecycle import partitions
from worker.memo import remember
from worker.models import InputLine
from worker.models import Result as ResultRow
from worker.pipeline.jobs import get_job

_STREAM_BATCH = 5000
# Claims files repeat a few pass-through values (payer, plan, ...): each distinct `extra` text is
# parsed once per export. Bounded, so a file whose extras are all different costs no memory.
_EXTRA_CACHE = 4096

# The result's columns in contract.RESULT_FIELDS order, then the line's pass-through JSON.
_RESULT_COLUMNS = (ResultRow.line_no, ResultRow.entry_id, ResultRow.input, ResultRow.status,
                   ResultRow.code, ResultRow.description, ResultRow.method, ResultRow.confidence,
                   ResultRow.code_set, ResultRow.alternatives, ResultRow.message,
                   ResultRow.date_of_service)
_CONFIDENCE = contract.RESULT_FIELDS.index("confidence")
_DOS = contract.RESULT_FIELDS.index("date_of_service")  # where the reusable tail ends
_INPUT = contract.RESULT_FIELDS.index("input")  # where a CSV line's reusable tail starts
_EXTRA = len(_RESULT_COLUMNS)
# Distinct CSV tails (the cells from the input on, see ResultFormat.render) remembered per format:
# about 300 bytes each, so at most 30 MB; a 1M-line file has about 160,000.
_TAIL_CACHE = 100_000
# An entry id the csv module writes as it is and no spreadsheet reads as a formula (most are:
# "CLM00000001"); any other goes through the csv module.
_PLAIN_CELL = re.compile(r"(?:[0-9A-Za-z_.:/#][0-9A-Za-z_.:/#-]*)?")


def _confidence(value: Any) -> float:
    """A confidence as both formats write it: rounded as stored, and never -0.0. Neither
    database gives a negative zero back, and it equals 0.0 as a cache key, so a cache would
    write whichever of the two came first."""
    return round(float(value), 4) + 0.0  # float(): an in-memory result's 1 is 1.0


def _iso_date(value: Any) -> str | None:
    """A date of service as ISO text, however it arrives: a date (PostgreSQL, or a result just
    resolved in memory), the ISO text SQLite stores, or None."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _date_json(value: Any) -> str:
    return "null" if value is None else f'"{_iso_date(value)}"'


def _confidence_json(value: float) -> str:
    value = _confidence(value)
    # repr is how json writes a finite float; NaN and infinities it spells its own way.
    return repr(value) if math.isfinite(value) else json.dumps(value)


# A JSONL line: the record's keys in RESULT_FIELDS order, then the `extra` member if any. The
# separators are json.dumps' defaults.
_JSONL_LINE = "{" + ", ".join(f"{json.dumps(name)}: %s" for name in contract.RESULT_FIELDS) + "%s}"
# How json.dumps(..., ensure_ascii=False) writes each of _RESULT_COLUMNS: text through json's own
# string escaping, the integer line number as repr, the rounded confidence as above.
_CELL_JSON: tuple[Callable[[Any], str], ...] = tuple(
    _confidence_json if i == _CONFIDENCE
    else _date_json if i == _DOS
    else encode_basestring if column.type.python_type is str else repr
    for i, column in enumerate(_RESULT_COLUMNS))
# operator.call(write, value) is write(value), without a Python frame per cell.
_write_cell: Callable[[Callable[[Any], str], Any], str] = operator.call


def _result_pages(job_id: str, spans: Iterable[tuple[int, int]] | None = None,
                  status: str | None = None) -> Iterator[Sequence[tuple[Any, ...]]]:
    """Plain tuples of _RESULT_COLUMNS + (extra,), in line order, one page of line numbers at a time.

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
        page = (select(*_RESULT_COLUMNS, InputLine.extra)
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
    parse_extra = functools.lru_cache(maxsize=_EXTRA_CACHE)(json.loads)
    for page in _result_pages(job_id):
        for row in page:
            record = dict(zip(contract.RESULT_FIELDS, row[:_EXTRA], strict=True))
            record["confidence"] = _confidence(record["confidence"])
            record["date_of_service"] = _iso_date(record["date_of_service"])
            if row[_EXTRA]:
                record["extra"] = dict(parse_extra(row[_EXTRA]))  # a copy the caller may change
            yield record


class ResultFormat:
    """How result rows become CSV or JSONL text: each row is the contract's RESULT_FIELDS values
    then the line's pass-through JSON text, as `_result_pages` reads them (the confidence is
    written as the float it is stored as); CSV pass-through columns follow the contract's
    columns, in the order of `names`.

    The database export renders the pages it reads; the embedded run's workers render the rows
    they have just committed, so both paths write the same bytes for the same rows.
    """

    def __init__(self, fmt: str, names: Sequence[str] = ()) -> None:
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown results format {fmt!r}; use csv or jsonl")
        self.fmt = fmt
        self.names = [name for name in dict.fromkeys(names) if name not in contract.RESULT_FIELDS]
        names = self.names
        encode = json.JSONEncoder(ensure_ascii=False).encode

        @functools.lru_cache(maxsize=_EXTRA_CACHE)
        def extra_csv(text: str) -> str:
            if not names:
                return ""
            extra = json.loads(text) if text else {}
            return "," + cells_text(safe_cells([extra.get(name, "") for name in names]))

        @functools.lru_cache(maxsize=_EXTRA_CACHE)
        def extra_json(text: str) -> str:
            return ', "extra": ' + encode(json.loads(text)) if text else ""

        self._extra_csv = extra_csv
        self._tails: dict[tuple[Any, ...], str] = {}
        self._days: dict[Any, str] = {}
        self._cell_json: tuple[Callable[[Any], str], ...] = (*_CELL_JSON, extra_json)

    def header(self) -> str:
        if self.fmt == "jsonl":
            return ""
        return safe_row([*contract.RESULT_FIELDS, *self.names])

    def render(self, rows: Sequence[tuple[Any, ...]]) -> str:
        if self.fmt == "jsonl":
            # Each line is json.dumps(record, ensure_ascii=False) of iter_results' record, filled
            # in from a template: a dict and the encoder per line took most of the time.
            cell_json = self._cell_json
            return "".join([_JSONL_LINE % tuple(map(_write_cell, cell_json, row)) + "\n"
                            for row in rows])
        # A line is its number, its entry id, then the tail: the input and what it resolved to,
        # which repeat across a file as its terms do, so each distinct tail is made safe and
        # written by the csv module once and then reused (writing every cell of every line
        # through the csv module was four fifths of the time); the pass-through cells likewise.
        tails, extra_csv, plain = self._tails, self._extra_csv, _PLAIN_CELL.fullmatch
        days = self._days
        lines = []
        for row in rows:
            key = row[_INPUT:_DOS]
            tail = tails.get(key)
            if tail is None:
                tail = self._tail(key)
            entry_id = row[1]
            if not (entry_id.__class__ is str and plain(entry_id)):
                entry_id = cells_text(safe_cells([entry_id]))
            day = days.get(row[_DOS])
            if day is None:  # an ISO date needs no quoting and is no formula
                day = days[row[_DOS]] = _iso_date(row[_DOS]) or ""
            lines.append(f"{row[0]},{entry_id},{tail},{day}{extra_csv(row[_EXTRA])}\n")
        return "".join(lines)

    def _tail(self, key: tuple[Any, ...]) -> str:
        cells = safe_cells(key)
        cells[_CONFIDENCE - _INPUT] = _confidence(cells[_CONFIDENCE - _INPUT])
        return remember(self._tails, key, cells_text(cells), _TAIL_CACHE)

    def render_span(self, job_id: str, first: int, last: int) -> str:
        """Lines first..last of the job as stored."""
        return "".join(self.render(page) for page in _result_pages(job_id, [(first, last)]))


def result_format(job_id: str, fmt: str = "csv") -> ResultFormat:
    """The format for a stored job: CSV's pass-through columns as its lines carry them."""
    return ResultFormat(fmt, extra_columns(job_id) if fmt == "csv" else ())


def write_results(job_id: str, out: IO[str], fmt: str = "csv", status: str | None = None) -> int:
    """Write the job's results (`status`: only its lines of that status); pass-through columns
    follow the contract's columns."""
    form = result_format(job_id, fmt)
    out.write(form.header())
    count = 0
    for page in _result_pages(job_id, status=status):
        out.write(form.render(page))
        count += len(page)
    return count


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


