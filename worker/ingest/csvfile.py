"""The CSV reader: a header row, one diagnosis entry per record, comma, tab or pipe delimited.

Numbering: SourceLine.line_no is the physical line where the record starts (the header is line
1 when nothing precedes it), the number a person opening the file in an editor goes to and the
one its error message names; a quoted field with embedded newlines still makes one line, so the
next record's number jumps past it. An empty line is counted and is an error line of its own
("the line is blank"), except after the last record: editors and exports end files with those.
Fields are matched to the header by position; a record with a different number of fields is kept
as an error line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from worker import contract
from worker.errors import FileRejected
from worker.ingest.common import (
    EXPECTED,
    FIELD_LIMIT,
    NUL_PROBLEM,
    PIECE_BYTES,
    Encoding,
    Piece,
    Source,
    SourceLine,
    blank_line,
    choose_encoding,
    choose_newline,
    iter_pieces,
    length_problem,
    line_error,
    open_binary,
    parse_date,
    parse_system,
    term_problem,
)

TERM_NAMES = ("term", "dx", "diagnosis", "code", "description")  # in order of preference
ID_NAMES = ("id",)
SYSTEM_NAMES = ("system",)
DOS_NAMES = ("date_of_service", "dos", "service_date")
DELIMITERS = ",\t|"

# Beyond these a value or a field list is cut: the line is an error anyway, and memory stays bounded
# even for an unclosed quote that swallows the rest of a large file.
_STORE_CHARS = PIECE_BYTES
_STORE_FIELDS = 65_536

_SNIFF_CHARS = 4096
_QUOTE = '"'
_FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(4)


class Record(NamedTuple):
    line: int  # physical line where the record starts
    fields: list[str]
    lengths: list[int]  # true length of each stored field (a stored value may be cut)
    field_count: int
    bad_bytes: bool
    unclosed: bool  # the file ended inside a quoted field
    nul: bool = False  # the record has a NUL byte (U+FFFD in its fields)


class _RecordBuilder:
    """Accumulates one record's fields with bounded memory."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: list[str] = []
        self.lengths: list[int] = []
        self.count = 0
        self.bad = False
        self.nul = False
        self._parts: list[str] = []
        self._stored = 0
        self._length = 0

    def add(self, text: str) -> None:
        self._length += len(text)
        if self._stored < _STORE_CHARS:
            part = text[: _STORE_CHARS - self._stored]
            self._parts.append(part)
            self._stored += len(part)

    def save(self) -> None:
        if self.count < _STORE_FIELDS:
            self.fields.append("".join(self._parts))
            self.lengths.append(self._length)
        self.count += 1
        self._parts, self._stored, self._length = [], 0, 0

    def record(self, unclosed: bool = False) -> Record:
        self.save()
        return Record(self.line, self.fields, self.lengths, self.count, self.bad, unclosed,
                      self.nul)


def iter_records(pieces: Iterable[Piece], delimiter: str, blanks: bool = False
                 ) -> Iterator[Record]:
    """Split decoded pieces into CSV records, as csv.reader does with its default (non-strict)
    dialect: doubled quotes inside quotes, a quote inside an unquoted field is literal.
    An empty line is no record; `blanks`: it comes as a Record with no fields (field_count 0).

    Written here rather than using csv.reader so that a record knows the physical line it starts on,
    undecodable bytes stay attached to their record, memory stays bounded and no process-wide
    csv.field_size_limit has to change.
    """
    builder: _RecordBuilder | None = None
    state = _FIELD_START
    for line_no, text, terminator, ends_line, bad_bytes, nul in pieces:
        if builder is None:
            if ends_line and not text:
                if blanks:
                    yield Record(line_no, [], [], 0, bad_bytes, False, nul)
                continue  # an empty line is not a record
            if ends_line and _QUOTE not in text:
                # Fast path for the common plain line; a piece is at most PIECE_BYTES, so no cut needed.
                parts = text.split(delimiter)
                yield Record(line_no, parts, list(map(len, parts)), len(parts), bad_bytes, False,
                             nul)
                continue
            builder = _RecordBuilder(line_no)
            state = _FIELD_START
        builder.bad = builder.bad or bad_bytes
        builder.nul = builder.nul or nul
        state = _scan(text, delimiter, state, builder)
        if not ends_line:
            continue
        if state == _QUOTED:
            builder.add(terminator)  # a line break inside quotes belongs to the field
            continue
        yield builder.record()
        builder = None
    if builder is not None:
        yield builder.record(unclosed=state == _QUOTED)


def _scan(text: str, delimiter: str, state: int, builder: _RecordBuilder) -> int:
    i, n = 0, len(text)
    while i < n:
        if state == _QUOTED:
            j = text.find(_QUOTE, i)
            if j < 0:
                builder.add(text[i:])
                return state
            builder.add(text[i:j])
            i, state = j + 1, _QUOTE_IN_QUOTED
        elif state == _QUOTE_IN_QUOTED:
            c = text[i]
            if c == _QUOTE:  # a doubled quote stands for one quote
                builder.add(_QUOTE)
                i, state = i + 1, _QUOTED
            elif c == delimiter:
                builder.save()
                i, state = i + 1, _FIELD_START
            else:  # text after a closing quote joins the field, as csv.reader does
                state = _UNQUOTED
        elif state == _FIELD_START and text[i] == _QUOTE:
            i, state = i + 1, _QUOTED
        else:
            j = text.find(delimiter, i)
            if j < 0:
                builder.add(text[i:])
                return _UNQUOTED
            builder.add(text[i:j])
            builder.save()
            i, state = j + 1, _FIELD_START
    return state


class Layout(NamedTuple):
    """Where the columns are, from the header row."""

    delimiter: str
    columns: list[str]
    term: int
    id: int | None
    system: int | None
    dos: int | None
    extra: tuple[int, ...] = ()  # the other columns, passed through


def _with_extra(layout: Layout) -> Layout:
    # The system column passes through as written: the results say which system was declared.
    # The date of service is a result column of its own (the date as resolved, ISO).
    used = {layout.term, layout.id, layout.dos}
    return layout._replace(extra=tuple(i for i in range(len(layout.columns)) if i not in used))


def _first_line(text: str, newline: str) -> str:
    for line in text.split(newline):
        if line.strip("\r"):
            return line.rstrip("\r")
    return ""


def _candidates(header_line: str) -> list[str]:
    """Delimiters to try: the Sniffer's pick first, then by how often each occurs in the header."""
    order: list[str] = []
    with contextlib.suppress(csv.Error):  # one column, or no clear winner: fall back on counting
        # The Sniffer's regular expressions slow down badly on long input; a header needs little.
        order.append(csv.Sniffer().sniff(header_line[:_SNIFF_CHARS], delimiters=DELIMITERS).delimiter)
    by_count = sorted(DELIMITERS, key=lambda d: -header_line.count(d))  # stable: comma wins ties
    return order + [d for d in by_count if d not in order]


def _find(lowered: list[str], wanted: str | None, defaults: tuple[str, ...]) -> int | None:
    names = (wanted.strip().lower(),) if wanted else defaults
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _column_names(fields: list[str]) -> list[str]:
    """Header names as written (trimmed); blank ones named by position, repeats made unique."""
    names: list[str] = []
    for i, field in enumerate(fields):
        name = field.strip() or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def read_layout(
    path: str,
    prefix: bytes,
    whole: bool,
    encoding: Encoding,
    *,
    term_column: str | None = None,
    id_column: str | None = None,
    dos_column: str | None = None,
    detected: bool = False,
) -> Layout:
    """Find the header row and its columns from the prefix, or raise FileRejected."""
    newline = choose_newline(prefix)
    body = prefix[encoding.skip :]
    if not whole:
        # Parse only complete lines of the prefix, so a header that runs past it is seen as such.
        body = body[: body.rfind(newline) + 1]
    text = body.decode(encoding.codec, errors="replace")
    header_line = _first_line(text, newline.decode("ascii"))
    if not header_line:
        raise FileRejected(path, f"no header row in the first {len(prefix):,} bytes; {EXPECTED}")
    for delimiter in _candidates(header_line):
        pieces = iter_pieces(io.BytesIO(body), encoding.codec, newline)
        header = next(iter_records(pieces, delimiter), None)
        if header is None or header.unclosed or header.field_count > len(header.fields):
            raise FileRejected(
                path, "the header row is unreadable (an unclosed quote or too long); fix the first line"
            )
        columns = _column_names(header.fields)
        lowered = [c.lower() for c in columns]
        term = _find(lowered, term_column, TERM_NAMES)
        if term is None:
            continue
        found = {
            name: _find(lowered, wanted, defaults)
            for name, wanted, defaults in (
                ("id", id_column, ID_NAMES),
                ("dos", dos_column, DOS_NAMES),
                ("system", None, SYSTEM_NAMES),
            )
        }
        for name, wanted in (("id", id_column), ("dos", dos_column)):
            if wanted and found[name] is None:
                raise FileRejected(
                    path, f"no column named {wanted!r} in the header row; check the column name"
                )
        return _with_extra(Layout(delimiter, columns, term, found["id"], found["system"],
                                  found["dos"]))
    if term_column:
        problem = f"no column named {term_column!r} in the header row; check the column name"
    elif detected:
        problem = (
            "not X12 (no ISA segment), not JSONL, and the first line is not a header with a term column "
            f"({', '.join(TERM_NAMES)}); {EXPECTED}"
        )
    else:
        problem = (
            f"the header row has no term column (looked for {', '.join(TERM_NAMES)}); "
            "rename the column or name it with term_column"
        )
    raise FileRejected(path, problem)


def open_csv(
    path: str | os.PathLike[str],
    prefix: bytes,
    whole: bool,
    *,
    term_column: str | None = None,
    id_column: str | None = None,
    dos_column: str | None = None,
    detected: bool = False,
) -> Source:
    """Read the header now (raising FileRejected), and return a Source that streams the records."""
    name = os.fspath(path)
    encoding = choose_encoding(name, prefix, whole)
    layout = read_layout(
        name,
        prefix,
        whole,
        encoding,
        term_column=term_column,
        id_column=id_column,
        dos_column=dos_column,
        detected=detected,
    )
    newline = choose_newline(prefix)

    def read() -> Iterator[SourceLine]:
        with open_binary(path) as stream:
            stream.seek(encoding.skip)
            records = iter_records(iter_pieces(stream, encoding.codec, newline),
                                   layout.delimiter, blanks=True)
            for record in records:  # the header, already read into the layout
                if record.field_count:
                    break
            plain_line = _plain_line_reader(layout)
            blank: list[int] = []  # blank lines held until a record follows them
            for record in records:
                if not record.field_count:
                    blank.append(record.line)
                    continue
                if blank:
                    yield from map(blank_line, blank)
                    blank.clear()
                yield plain_line(record.line, record) or _source_line(record.line, record,
                                                                      layout, encoding.label)

    warnings = [encoding.warning] if encoding.warning else []
    return Source(path, "csv", encoding.label, read, columns=layout.columns,
                  pass_through=[layout.columns[i] for i in layout.extra], warnings=warnings)


def _plain_line_reader(layout: Layout) -> Callable[[int, Record], SourceLine | None]:
    """The fast path for the common line, set up once per file.

    It takes a line with clean bytes, the header's field count, short fields, a printable non-blank
    term and a valid system and date, and decides it exactly as _source_line would; for any other
    line it returns None and _source_line decides.
    """
    columns = layout.columns
    width = len(columns)
    term_at, id_at, system_at, dos_at = layout.term, layout.id, layout.system, layout.dos
    system_name = "" if system_at is None else columns[system_at]
    dos_name = "" if dos_at is None else columns[dos_at]
    extra = [(columns[i], i) for i in layout.extra]

    def plain_line(line_no: int, record: Record) -> SourceLine | None:
        if (record.bad_bytes or record.nul or record.unclosed or record.field_count != width
                or max(record.lengths) > FIELD_LIMIT):
            return None
        fields = record.fields
        term = fields[term_at]
        if not (term.strip() and term.isprintable()):
            return None
        system = contract.SYSTEM_AUTO
        if system_at is not None:
            system, problem = parse_system(system_name, fields[system_at])
            if problem is not None:
                return None
        date_of_service = None
        if dos_at is not None:
            date_of_service, problem = parse_date(dos_name, fields[dos_at])
            if problem is not None:
                return None
        return SourceLine(line_no, term, "" if id_at is None else fields[id_at], system,
                          date_of_service, {name: fields[i] for name, i in extra} or None, "")

    return plain_line


def _source_line(line_no: int, record: Record, layout: Layout, encoding: str) -> SourceLine:
    """Any line, with every problem it has named in its error."""
    columns = layout.columns
    problems: list[str] = []
    if record.bad_bytes:
        problems.append(f"has bytes that are not valid {encoding.replace('-sig', '').upper()}")
    if record.nul:
        problems.append(NUL_PROBLEM)
    if record.unclosed:
        problems.append("a quoted field that starts here is not closed before the end of the file")
    if record.field_count != len(columns):
        problems.append(f"has {record.field_count:,} fields, the header has {len(columns):,}")
    for name, length in zip(columns, record.lengths, strict=False):
        problem = length_problem(name, length)
        if problem:
            problems.append(problem)

    def field(index: int | None) -> str:
        return record.fields[index] if index is not None and index < len(record.fields) else ""

    term = field(layout.term)
    if layout.term >= len(record.fields):
        problems.append(f"{columns[layout.term]} is missing")
    else:
        problem = term_problem(columns[layout.term], term)
        if problem:
            problems.append(problem)
    system = contract.SYSTEM_AUTO
    if layout.system is not None:
        system, problem = parse_system(columns[layout.system], field(layout.system))
        if problem:
            problems.append(problem)
    date_of_service = None
    if layout.dos is not None:
        date_of_service, problem = parse_date(columns[layout.dos], field(layout.dos))
        if problem:
            problems.append(problem)
    used = {layout.term, layout.id, layout.dos}
    extra = {name: field(i) for i, name in enumerate(columns) if i not in used} or None
    return SourceLine(
        line_no=line_no,
        term=term,
        id=field(layout.id),
        system=system,
        date_of_service=date_of_service,
        extra=extra,
        error=line_error(record.line, problems),
    )
