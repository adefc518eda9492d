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
        with dbapi.cursor() as cursor:
            while batch := list(itertools.islice(iterator, _BATCH * 10)):
                buffer = io.StringIO()
                buffer.writelines(",".join(map(_csv_field, row)) + "\n" for row in batch)
                buffer.seek(0)
                cursor.copy_expert(sql, buffer)
                count += len(batch)
        return count
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        while batch := list(itertools.islice(iterator, _BATCH)):
            cursor.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in batch])
            count += len(batch)
    finally:
        cursor.close()
    return count


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
