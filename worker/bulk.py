"""Set-based writes: COPY on PostgreSQL, executemany on SQLite, never one statement per row."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from worker.db import is_postgres

_BATCH = 5000


def _csv_field(value: Any) -> str:
    if value is None:
        return ""  # unquoted empty = NULL in COPY's CSV format
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    # PostgreSQL text cannot hold NUL; claims files sometimes do. Keep the line, mark the byte.
    text = str(value).replace("\x00", "\ufffd")
    return '"' + text.replace('"', '""') + '"'


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
              ) -> int:
    """Append rows to `table` inside the session's transaction; returns the row count."""
    count = 0
    iterator = iter(rows)
    if is_postgres(session):
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi is not None
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        cursor: Any = dbapi.cursor()  # psycopg2's cursor: copy_expert is not in the DB-API
        try:
            while batch := list(itertools.islice(iterator, _BATCH * 10)):
                buffer = io.StringIO()
                buffer.writelines(",".join(map(_csv_field, row)) + "\n" for row in batch)
                buffer.seek(0)
                cursor.copy_expert(sql, buffer)
                count += len(batch)
        finally:
            cursor.close()
        return count
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


def _sqlite_rows(batch: list[Sequence[Any]]) -> list[Sequence[Any]]:
    """Convert only the date/datetime columns (callers keep one type per column)."""
    temporal = set()
    for i in range(len(batch[0])):
        first = next((row[i] for row in batch if row[i] is not None), None)
        if isinstance(first, dt.date):
            temporal.add(i)
    if not temporal:
        return batch
    return [tuple(_sqlite_value(v) if i in temporal else v for i, v in enumerate(row))
            for row in batch]
