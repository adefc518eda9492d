"""Export: a job's results as the files people get (CSV, JSONL), written all or nothing.

The one place results become bytes: ResultFormat renders result rows (as results.py reads them,
or as an embedded worker has just committed them) through the one CSV cell encoder
(worker/csvcells.py), and write_atomically puts any claims-data file in place (0600, a temporary
renamed). `results`, the inbox's outbox, `dxcoder run -o`, `edits -o` and `results --by-claim`
all go through here.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import re
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any

from worker import contract, private
from worker.csvcells import cells_text, safe_cells, safe_row
from worker.memo import remember
from worker.pipeline.results import (
    CONFIDENCE_AT,
    DOS_AT,
    EXTRA_AT,
    EXTRA_CACHE,
    INPUT_AT,
    RESULT_COLUMNS,
    extra_columns,
    iso_date,
    result_pages,
    stored_confidence,
)

# Distinct CSV tails (the cells from the input on, see ResultFormat.render) remembered per format:
# about 300 bytes each, so at most 30 MB; a 1M-line file has about 160,000.
_TAIL_CACHE = 100_000
# An entry id the csv module writes as it is and no spreadsheet reads as a formula (most are:
# "CLM00000001"); any other goes through the csv module.
_PLAIN_CELL = re.compile(r"(?:[0-9A-Za-z_.:/#][0-9A-Za-z_.:/#-]*)?")


def _date_json(value: Any) -> str:
    return "null" if value is None else f'"{iso_date(value)}"'


def _confidence_json(value: float) -> str:
    value = stored_confidence(value)
    # repr is how json writes a finite float; NaN and infinities it spells its own way.
    return repr(value) if math.isfinite(value) else json.dumps(value)


# A JSONL line: the record's keys in RESULT_FIELDS order, then the `extra` member if any. The
# separators are json.dumps' defaults.
_JSONL_LINE = "{" + ", ".join(f"{json.dumps(name)}: %s" for name in contract.RESULT_FIELDS) + "%s}"
# How json.dumps(..., ensure_ascii=False) writes each of RESULT_COLUMNS: text through json's own
# string escaping, the integer line number as repr, the rounded confidence as above.
_CELL_JSON: tuple[Callable[[Any], str], ...] = tuple(
    _confidence_json if i == CONFIDENCE_AT
    else _date_json if i == DOS_AT
    else encode_basestring if column.type.python_type is str else repr
    for i, column in enumerate(RESULT_COLUMNS))
# operator.call(write, value) is write(value), without a Python frame per cell.
_write_cell: Callable[[Callable[[Any], str], Any], str] = operator.call


class ResultFormat:
    """How result rows become CSV or JSONL text: each row is the contract's RESULT_FIELDS values
    then the line's pass-through JSON text, as `result_pages` reads them (the confidence is
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

        @functools.lru_cache(maxsize=EXTRA_CACHE)
        def extra_csv(text: str) -> str:
            if not names:
                return ""
            extra = json.loads(text) if text else {}
            return "," + cells_text(safe_cells([extra.get(name, "") for name in names]))

        @functools.lru_cache(maxsize=EXTRA_CACHE)
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
            key = row[INPUT_AT:DOS_AT]
            tail = tails.get(key)
            if tail is None:
                tail = self._tail(key)
            entry_id = row[1]
            if not (entry_id.__class__ is str and plain(entry_id)):
                entry_id = cells_text(safe_cells([entry_id]))
            day = days.get(row[DOS_AT])
            if day is None:  # an ISO date needs no quoting and is no formula
                day = days[row[DOS_AT]] = iso_date(row[DOS_AT]) or ""
            lines.append(f"{row[0]},{entry_id},{tail},{day}{extra_csv(row[EXTRA_AT])}\n")
        return "".join(lines)

    def _tail(self, key: tuple[Any, ...]) -> str:
        cells = safe_cells(key)
        cells[CONFIDENCE_AT - INPUT_AT] = stored_confidence(cells[CONFIDENCE_AT - INPUT_AT])
        return remember(self._tails, key, cells_text(cells), _TAIL_CACHE)

    def render_span(self, job_id: str, first: int, last: int) -> str:
        """Lines first..last of the job as stored."""
        return "".join(self.render(page) for page in result_pages(job_id, [(first, last)]))


def result_format(job_id: str, fmt: str = "csv") -> ResultFormat:
    """The format for a stored job: CSV's pass-through columns as its lines carry them."""
    return ResultFormat(fmt, extra_columns(job_id) if fmt == "csv" else ())


def export_results(job_id: str, out: IO[str], fmt: str = "csv", status: str | None = None
                   ) -> int:
    """Write the job's results (`status`: only its lines of that status); pass-through columns
    follow the contract's columns."""
    form = result_format(job_id, fmt)
    out.write(form.header())
    count = 0
    for page in result_pages(job_id, status=status):
        out.write(form.render(page))
        count += len(page)
    return count


def write_atomically(target: Path, write: Callable[[IO[Any]], None], *,
                     binary: bool = False) -> None:
    """Call `write` with a UTF-8 text stream (newline=""), or a byte stream with `binary`, on a
    hidden temporary beside target, fsync, then rename: readers see all or nothing. A write
    that fails (or is interrupted) removes its temporary.

    The temporary is created with O_EXCL|O_NOFOLLOW and mode 0600 (worker.private): a symlink
    planted at its name is removed, never written through, and a leftover of a killed run is
    replaced. The rename replaces a symlink at `target` itself, not the file it points to.
    """
    temp = target.with_name(f".{target.name}.tmp")
    try:
        fd = private.create_new(temp)
    except FileExistsError:
        temp.unlink()  # unlink never follows a link: what it pointed to is left alone
        fd = private.create_new(temp)  # one that reappears at once is an attack: let it raise
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, target)
