"""File readers: turn a CSV, JSONL or X12 837 claims file into a stream of parsed lines.

The rule: N data lines in, N SourceLines out, each numbered by the physical line it starts on (X12:
by diagnosis); a blank line between entries is a line too (an error line), blank lines after the
last entry are not. A bad line is a SourceLine with `error` set, never an exception and never a
dropped line; only a bad file raises FileRejected, and open_source raises it
before anything is yielded (except an I/O failure part-way through a read).
"""

from __future__ import annotations

import os

from worker.ingest.common import FIELD_LIMIT, Source, SourceLine, read_prefix
from worker.ingest.csvfile import open_csv
from worker.ingest.detect import FORMATS, check_readable, detect_format, normalise_format
from worker.ingest.jsonl import open_jsonl
from worker.ingest.x12 import claim_id, open_x12

__all__ = [
    "FIELD_LIMIT",
    "FORMATS",
    "Source",
    "SourceLine",
    "claim_id",
    "detect_format",
    "open_source",
]


def open_source(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    term_column: str | None = None,
    id_column: str | None = None,
    dos_column: str | None = None,
) -> Source:
    """Open a claims file: detect its format (or use `format`), check its header or X12 envelope,
    and return a Source to iterate. Raises FileRejected for a bad file, ValueError for an unknown
    `format` name. The column options apply to CSV and JSONL (JSONL keys) and are ignored for X12.
    """
    name = os.fspath(path)
    prefix, whole = read_prefix(path)
    if format is None:
        fmt, detected = detect_format(name, prefix), True
    else:
        fmt, detected = normalise_format(format), False
        check_readable(name, prefix)
    if fmt == "x12":
        return open_x12(path, prefix, whole)
    if fmt == "jsonl":
        return open_jsonl(
            path, prefix, whole, term_column=term_column, id_column=id_column, dos_column=dos_column
        )
    return open_csv(
        path,
        prefix,
        whole,
        term_column=term_column,
        id_column=id_column,
        dos_column=dos_column,
        detected=detected,
    )
