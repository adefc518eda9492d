"""The JSONL reader: one JSON object per line, with the same keys as the CSV columns.

Numbering: SourceLine.line_no is the physical line, as its error message says. A blank line
(empty or only spaces and tabs) is counted and is an error line of its own, except after the
last object: editors and exports end files with those.
Keys are matched case-insensitively, with the CSV aliases (term, dx, diagnosis, code, description;
date_of_service, dos, service_date). Other keys go into `extra`: strings as they are, null as "",
anything else as its compact JSON text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from worker import contract
from worker.ingest.common import (
    NUL_PROBLEM,
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
from worker.ingest.csvfile import DOS_NAMES, ID_NAMES, SYSTEM_NAMES, TERM_NAMES

# A line longer than this cannot hold a sane entry (every field is at most 1,000 characters);
# it is not parsed, so memory stays bounded.
LINE_LIMIT = 1024 * 1024
_JSON_BLANK = " \t\r\n"


class _Line(NamedTuple):
    line: int
    text: str
    too_long: bool
    bad_bytes: bool
    nul: bool


def _whole_lines(pieces: Iterable[Piece]) -> Iterator[_Line]:
    parts: list[str] = []
    size, bad, nul = 0, False, False
    for piece in pieces:
        size += len(piece.text)
        bad = bad or piece.bad_bytes
        nul = nul or piece.nul
        if size <= LINE_LIMIT:
            parts.append(piece.text)
        if piece.ends_line:
            yield _Line(piece.line_no, "".join(parts) if size <= LINE_LIMIT else "",
                        size > LINE_LIMIT, bad, nul)
            parts, size, bad, nul = [], 0, False, False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else "a string"


def open_jsonl(
    path: str | os.PathLike[str],
    prefix: bytes,
    whole: bool,
    *,
    term_column: str | None = None,
    id_column: str | None = None,
    dos_column: str | None = None,
) -> Source:
    """Return a Source that streams the objects; nothing in the body can reject the file."""
    name = os.fspath(path)
    encoding = choose_encoding(name, prefix, whole)
    newline = choose_newline(prefix)
    names: dict[str, tuple[str, ...]] = {
        "term": (term_column.lower(),) if term_column else TERM_NAMES,
        "id": (id_column.lower(),) if id_column else ID_NAMES,
        "system": SYSTEM_NAMES,
        "dos": (dos_column.lower(),) if dos_column else DOS_NAMES,
    }
    label = encoding.label.replace("-sig", "").upper()

    def read() -> Iterator[SourceLine]:
        with open_binary(path) as stream:
            stream.seek(encoding.skip)
            blank: list[int] = []  # blank lines held until an object follows them
            for line in _whole_lines(iter_pieces(stream, encoding.codec, newline)):
                if not line.too_long and not line.text.strip(_JSON_BLANK) and not line.nul:
                    blank.append(line.line)
                    continue
                if blank:
                    yield from map(blank_line, blank)
                    blank.clear()
                yield _source_line(line.line, line, names, label)

    warnings = [encoding.warning] if encoding.warning else []
    return Source(path, "jsonl", encoding.label, read, warnings=warnings)


def _source_line(line_no: int, line: _Line, names: dict[str, tuple[str, ...]], encoding: str) -> SourceLine:
    def bad(problem: str) -> SourceLine:
        return SourceLine(line_no=line_no, term="", error=line_error(line.line, [problem]))

    if line.too_long:
        return bad(f"is {LINE_LIMIT:,} characters or longer; not read")
    try:
        obj = json.loads(line.text)
    except json.JSONDecodeError as exc:
        return bad(f"not valid JSON ({exc.msg} at column {exc.colno})")
    except (ValueError, RecursionError):  # over-long integers, absurd nesting
        return bad("not valid JSON (a number or nesting beyond what is accepted)")
    if not isinstance(obj, dict):
        return bad(f"expected a JSON object, got {_kind(obj)}")

    problems: list[str] = []
    if line.bad_bytes:
        problems.append(f"has bytes that are not valid {encoding}")
    if line.nul:
        problems.append(NUL_PROBLEM)
    keys: dict[str, str] = {}
    for key in obj:
        keys.setdefault(key.lower(), key)

    def key_of(role: str) -> str | None:
        return next((keys[n] for n in names[role] if n in keys), None)

    def text_of(role: str, allow_number: bool = False) -> tuple[str | None, str]:
        key = key_of(role)
        if key is None or obj[key] is None:
            return key, ""
        value = obj[key]
        if isinstance(value, str):
            problem = length_problem(key, len(value))
            if problem:
                problems.append(problem)
            return key, value
        if allow_number and isinstance(value, int) and not isinstance(value, bool):
            return key, str(value)
        problems.append(f"{key} is {_kind(value)}, expected a string")
        return key, ""

    term_key, term = text_of("term")
    if term_key is None or obj[term_key] is None:
        problems.append(f"{term_key or names['term'][0]} is missing")
    elif isinstance(obj[term_key], str):
        problem = term_problem(term_key, term)
        if problem:
            problems.append(problem)
    _, entry_id = text_of("id", allow_number=True)
    system_key, system_text = text_of("system")
    system = contract.SYSTEM_AUTO
    if system_key is not None:
        system, problem = parse_system(system_key, system_text)
        if problem:
            problems.append(problem)
    dos_key, dos_text = text_of("dos")
    date_of_service = None
    if dos_key is not None:
        date_of_service, problem = parse_date(dos_key, dos_text)
        if problem:
            problems.append(problem)

    # As in a CSV: the system key passes through as written, the date is a result column.
    used = {key_of(role) for role in names if role != "system"}
    extra: dict[str, str] = {}
    for key, value in obj.items():
        if key in used:
            continue
        if isinstance(value, str):
            extra[key] = value
        else:
            extra[key] = "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        problem = length_problem(key, len(extra[key]))
        if problem:
            problems.append(problem)
    return SourceLine(
        line_no=line_no,
        term=term,
        id=entry_id,
        system=system,
        date_of_service=date_of_service,
        extra=extra or None,
        error=line_error(line.line, problems),
    )
