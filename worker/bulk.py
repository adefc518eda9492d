"""Set-based writes: COPY on PostgreSQL, executemany on SQLite, never one statement per row."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

from worker.db import is_postgres

_BATCH = 5000


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
              ) -> int:
    """Append rows to `table` inside the session's transaction; returns the row count."""
    if is_postgres(session):
        return _copy_postgres(session, table, columns, rows)
    return _insert_sqlite(session, table, columns, rows)


def _copy_postgres(session: Session, table: str, columns: Sequence[str],
                   rows: Iterable[Sequence[Any]]) -> int:
    # Each batch's text is made in full before COPY reads it from a StringIO: the rows are then
    # read (the claims file parsed) outside psycopg2, which would turn an exception raised in a
    # Python read() - Ctrl-C, an unreadable file - into a bare failed COPY.
    count = 0
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, _BATCH * 10)):
        options, text = _copy_csv(columns, batch)
        copy_csv_text(session, table, columns, text, options)
        count += len(batch)
    return count


def copy_csv_text(session: Session, table: str, columns: Sequence[str], text: str,
                  options: str = "FORMAT csv") -> None:
    """COPY ready CSV text (as _copy_csv or csvcells.copy_cells write it) into `table` (PostgreSQL only)."""
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; claims files sometimes do. Keep the line, mark the byte.
        text = text.replace("\x00", "\ufffd")
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()  # psycopg2's cursor: copy_expert is not in the DB-API
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})",
                           io.StringIO(text))
    finally:
        cursor.close()


def _copy_csv(columns: Sequence[str], batch: list[Sequence[Any]]) -> tuple[str, str]:
    """COPY options and CSV text for one batch.

    The C csv writer does the per-value work: QUOTE_NONNUMERIC quotes strings (so an empty string
    stays an empty string) and leaves numbers bare. It also writes None as a quoted "", which COPY
    reads as NULL in a FORCE_NULL column; that is exact while such a column holds no "". A batch
    with both None and "" in one column is written value by value instead (None unquoted).
    """
    # Columns are picked out with itemgetter: zip(*batch) would allocate an iterator per row.
    holds_none = [i for i in range(len(columns)) if None in map(itemgetter(i), batch)]
    options = "FORMAT csv"
    if any("" in map(itemgetter(i), batch) for i in holds_none):
        text = "".join(",".join(map(_csv_field, row)) + "\n" for row in batch)
    else:
        if holds_none:
            options += f", FORCE_NULL ({', '.join(columns[i] for i in holds_none)})"
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(batch)
        text = buffer.getvalue()
    return options, text


def _csv_field(value: Any) -> str:
    if value is None:
        return ""  # unquoted empty = NULL in COPY's CSV format
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value).replace("\x00", "\ufffd")  # as copy_csv_text does
    return '"' + text.replace('"', '""') + '"'


def _insert_sqlite(session: Session, table: str, columns: Sequence[str],
                   rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    iterator = iter(rows)
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        while batch := list(itertools.islice(iterator, _BATCH)):
            cursor.executemany(sql, _sqlite_rows(batch))
            count += len(batch)
    finally:
        cursor.close()
    return count


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's SQLite DATE/DATETIME storage format: ISO text, naive UTC for datetimes.
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _sqlite_rows(batch: list[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Convert only the date/datetime columns (callers keep one type per column).

    Works column-wise so the other columns cost no Python per value: a column is temporal when its
    first non-None value is a date or datetime, and its values are converted once per distinct value
    (dates of service repeat a lot). Equal values convert equally: a date never equals a datetime.
    """
    # Columns are picked out with itemgetter rather than zip(*batch), which would allocate an
    # iterator per row and wake the garbage collector for nothing.
    by_column = [list(map(itemgetter(i), batch)) for i in range(len(batch[0]))]
    temporal = False
    for i, values in enumerate(by_column):
        first = next((value for value in values if value is not None), None)
        if isinstance(first, dt.date):
            converted = {value: _sqlite_value(value) for value in set(values)}
            by_column[i] = list(map(converted.__getitem__, values))
            temporal = True
    return list(zip(*by_column, strict=True)) if temporal else batch
