"""What every file reader shares: the parsed line, file rejection, decoding and per-field checks."""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, NamedTuple

from worker import contract
from worker.errors import FileRejected

# A field longer than this is not a diagnosis entry; the line becomes invalid_input.
FIELD_LIMIT = 1000
# How much of a file is read up front to detect its format, encoding and header.
PREFIX_BYTES = 256 * 1024
# Physical lines longer than this are handed on in pieces, so one huge line never sits in memory.
PIECE_BYTES = 64 * 1024
BLOCK_BYTES = 64 * 1024

EXPECTED = "expected a CSV with a header row (term column), JSONL or an X12 837 file"

# Every Unicode control character (category Cc) except tab, which spreadsheets leave in cells.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class SourceLine(NamedTuple):
    """One data line of a claims file after parsing; a bad line carries `error` instead of raising.

    line_no is the one number of the line everywhere (results, error messages): CSV and JSONL the
    physical line it starts on, 1-based; X12, whose segments need not sit on lines of their own,
    the diagnosis's ordinal in the file. error, when set, starts with "line N:" with that same N
    (X12 adds the segment).

    A NamedTuple rather than a frozen dataclass: one is made per line, and the dataclass's
    __init__ (a setattr per field) was a fifth of reading a CSV line.
    """

    line_no: int
    term: str
    id: str = ""
    system: str = contract.SYSTEM_AUTO
    date_of_service: dt.date | None = None
    extra: dict[str, str] | None = None
    error: str = ""

    def as_entry(self) -> contract.Entry:
        """The contract Entry for the resolver (error and extra stay with the caller)."""
        return contract.Entry(
            line_no=self.line_no,
            term=self.term,
            id=self.id,
            system=self.system,
            date_of_service=self.date_of_service,
        )


class Source:
    """A file opened for reading: iterate it for SourceLines, streamed in constant memory.

    Each iteration re-reads the file from the start. An I/O failure part-way through raises
    FileRejected (the lines already yielded stay valid).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str,
        encoding: str,
        read: Callable[[], Iterator[SourceLine]],
        *,
        columns: Sequence[str] = (),
        pass_through: Sequence[str] | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.path = os.fspath(path)
        self.format = format
        self.encoding = encoding
        self.columns = list(columns)
        # The pass-through columns (a line's `extra`) when the file fixes them before its first
        # line, as a CSV header does: every line carries these, in this order. None: they vary.
        self.pass_through = None if pass_through is None else list(pass_through)
        self.warnings = list(warnings)
        self._read = read

    def __iter__(self) -> Iterator[SourceLine]:
        try:
            yield from self._read()
        except OSError as exc:
            raise FileRejected(
                self.path,
                f"could not be read to the end ({exc.strerror or exc}); check the file and submit it again",
            ) from exc

    def claim_ids(self) -> list[str]:
        """Claim ids (X12 CLM01) in file order, each once; empty for files without claims.

        One streaming pass; memory grows with the number of claims, not lines.
        """
        seen: dict[str, None] = {}
        for line in self:
            if line.extra and "claim_id" in line.extra:
                seen.setdefault(line.extra["claim_id"], None)
        return list(seen)

    def __repr__(self) -> str:
        return f"Source({self.path!r}, format={self.format!r}, encoding={self.encoding!r})"


def open_binary(path: str | os.PathLike[str]) -> BinaryIO:
    """Open for binary reading, turning the OS's refusal into a FileRejected that says what to do."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise FileRejected(
            path, f"cannot be opened ({exc.strerror or exc}); check the path and permissions"
        ) from exc


def read_prefix(path: str | os.PathLike[str]) -> tuple[bytes, bool]:
    """The first PREFIX_BYTES of the file, and whether that is the whole file."""
    with open_binary(path) as stream:
        try:
            prefix = stream.read(PREFIX_BYTES + 1)
        except OSError as exc:
            raise FileRejected(path, f"cannot be read ({exc.strerror or exc}); check the file") from exc
    return prefix[:PREFIX_BYTES], len(prefix) <= PREFIX_BYTES


class Encoding(NamedTuple):
    codec: str  # what decodes the bytes after the BOM
    label: str  # what Source.encoding reports: utf-8, utf-8-sig or cp1252
    skip: int  # bytes of byte-order mark to skip
    warning: str | None


def choose_encoding(path: str, prefix: bytes, whole: bool) -> Encoding:
    """UTF-8 (with or without BOM) when the prefix decodes as UTF-8, else cp1252 with a warning.

    Decided once per file from the prefix: US claims systems export either UTF-8 or Windows-1252,
    and mixing both in one file is rare enough that the later undecodable lines become line errors.
    """
    if prefix.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8", "utf-8-sig", len(codecs.BOM_UTF8), None)
    try:
        # final=False unless this is the whole file: the prefix may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=whole)
    except UnicodeDecodeError as exc:
        warning = (
            f"{path}: not valid UTF-8 (first bad byte at offset {exc.start:,}); read as Windows-1252 "
            "(cp1252). Check accented characters in the results, or export the file as UTF-8."
        )
        return Encoding("cp1252", "cp1252", 0, warning)
    return Encoding("utf-8", "utf-8", 0, None)


def choose_newline(prefix: bytes) -> bytes:
    """LF (which also covers CRLF), or CR for the old Mac exports that have no LF at all."""
    return b"\r" if b"\n" not in prefix and b"\r" in prefix else b"\n"


class Piece(NamedTuple):
    """A physical line, or part of one when it is longer than PIECE_BYTES."""

    line_no: int  # physical line number, 1-based
    text: str  # without the line terminator; a NUL in the file is U+FFFD here
    terminator: str  # "\r\n", "\n", "\r", or "" for a split long line and the end of the file
    ends_line: bool
    bad_bytes: bool  # some bytes did not decode in the file's encoding
    nul: bool = False  # the file has a NUL byte here (replaced in `text`)


def _raw_pieces(
    stream: BinaryIO, newline: bytes, piece_bytes: int
) -> Iterator[tuple[bytes, bool, bool]]:
    """(bytes, ends_line, starts_line) pieces of the stream.

    At a line start, all the complete lines that fit in piece_bytes come as one run (so none of them
    can be too long): the caller decodes and splits a run in one go instead of line by line.
    """
    buf = b""
    pos = 0
    starts_line = True
    while True:
        if starts_line:
            end = buf.rfind(newline, pos, pos + piece_bytes)
            if end >= 0:
                yield buf[pos : end + 1], True, True
                pos = end + 1
                continue
        end = buf.find(newline, pos)
        if end >= 0 and end + 1 - pos <= piece_bytes:
            yield buf[pos : end + 1], True, starts_line
            pos = end + 1
            starts_line = True
        elif len(buf) - pos >= piece_bytes:
            # Never cut between the CR and LF of a CRLF: the CR would become data.
            cr_at_cut = piece_bytes > 1 and buf[pos + piece_bytes - 1 : pos + piece_bytes] == b"\r"
            cut = piece_bytes - 1 if cr_at_cut else piece_bytes
            yield buf[pos : pos + cut], False, starts_line
            pos += cut
            starts_line = False
        else:
            block = stream.read(BLOCK_BYTES)
            buf = buf[pos:] + block
            pos = 0
            if not block:
                if buf:
                    yield buf, True, starts_line
                return


def _split_run(run: bytes, newline: bytes) -> Iterator[bytes]:
    """The lines of a run, each with its newline (the last one may have none)."""
    start = 0
    while start < len(run):
        end = run.find(newline, start)
        end = len(run) if end < 0 else end + len(newline)
        yield run[start:end]
        start = end


def iter_pieces(
    stream: BinaryIO, codec: str, newline: bytes = b"\n", piece_bytes: int = PIECE_BYTES
) -> Iterator[Piece]:
    """Decode a byte stream into physical-line pieces; undecodable bytes are replaced and flagged.

    Only `newline` ends a line: U+2028, NEL and form feed are data, unlike str.splitlines().
    A NUL byte never gets past here: it becomes U+FFFD and its piece is flagged, so its line is
    an error line that names it, and no raw NUL reaches the database (PostgreSQL text cannot
    hold one) or a results file.
    """
    nl = newline.decode("ascii")
    decoder = codecs.getincrementaldecoder(codec)()
    line_no = 1
    for raw, ends_line, starts_line in _raw_pieces(stream, newline, piece_bytes):
        if ends_line and starts_line:
            text = ""
            # Whole lines: decode them together. The decoder holds nothing between whole lines, and
            # the newline byte never occurs inside a character in the codecs read here (UTF-8,
            # cp1252), so this gives what decoding line by line gives.
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                pass  # some line has bad bytes: go line by line below to flag just that one
            else:
                if "\x00" in text:
                    text = ""  # go line by line below to flag just the lines with a NUL
            if text:
                lines = text.split(nl)
                last = lines.pop()  # "" after the final newline; else the file's unterminated end
                crlf = nl == "\n" and "\r" in text
                for line in lines:
                    if crlf and line.endswith("\r"):
                        yield Piece(line_no, line[:-1], "\r\n", True, False)
                    else:
                        yield Piece(line_no, line, nl, True, False)
                    line_no += 1
                if last:
                    yield Piece(line_no, last, "", True, False)
                    line_no += 1
                continue
        for part in _split_run(raw, newline) if ends_line and starts_line else (raw,):
            bad = False
            try:
                text = decoder.decode(part, final=ends_line)
            except UnicodeDecodeError:
                # Bytes pending from a previous piece of this line are lost; the line is flagged anyway.
                text = part.decode(codec, errors="replace")
                decoder = codecs.getincrementaldecoder(codec)()
                bad = True
            nul = "\x00" in text
            if nul:
                text = text.replace("\x00", "\ufffd")
            terminator = ""
            if ends_line and text.endswith(nl):
                terminator = "\r\n" if nl == "\n" and text.endswith("\r\n") else nl
                text = text[: -len(terminator)]
            yield Piece(line_no, text, terminator, ends_line, bad, nul)
            if ends_line:
                line_no += 1


# A line's problem when the file has a NUL byte in it (a corrupt export or a stray binary field).
NUL_PROBLEM = "has a NUL byte (shown as U+FFFD)"


def length_problem(name: str, length: int) -> str | None:
    if length > FIELD_LIMIT:
        return f"{name} is {length:,} characters (limit {FIELD_LIMIT:,})"
    return None


def term_problem(name: str, term: str) -> str | None:
    """Why a term cannot be a diagnosis entry, never quoting the term itself (it is PHI)."""
    if not term.strip():
        return f"{name} is empty"
    control = _CONTROL.search(term)
    if control and control.group() in "\r\n":
        return f"{name} contains a line break"
    if control:
        return f"{name} contains a control character (U+{ord(control.group()):04X})"
    return None


def _system_key(value: str) -> str:
    return re.sub(r"[\s._-]", "", value.lower())


_SYSTEMS = {
    "icd10cm": contract.SYSTEM_ICD10CM,
    "icd10": contract.SYSTEM_ICD10CM,
    "i10": contract.SYSTEM_ICD10CM,
    "icd9cm": contract.SYSTEM_ICD9CM,
    "icd9": contract.SYSTEM_ICD9CM,
    "i9": contract.SYSTEM_ICD9CM,
    "text": contract.SYSTEM_TEXT,
    "freetext": contract.SYSTEM_TEXT,
    "auto": contract.SYSTEM_AUTO,
    "": contract.SYSTEM_AUTO,
}


# Pure functions of (column, value) called once per line with few distinct values: cached.
@functools.lru_cache(maxsize=1024)
def parse_system(name: str, value: str) -> tuple[str, str | None]:
    """The contract system for a spelling such as 'ICD-10-CM' or 'icd9'; blank means auto."""
    system = _SYSTEMS.get(_system_key(value))
    if system is None:
        # The value is not echoed: a misaligned row can put a diagnosis in this column.
        return (
            contract.SYSTEM_AUTO,
            f"{name} is not a known coding system (use icd10cm, icd9cm, text or auto)",
        )
    return system, None


_DATE_FORMS = (
    # ISO, optionally with a time part that spreadsheets add ("2024-02-01 00:00:00").
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.+\-Z]*)?"), (1, 2, 3)),
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), (1, 2, 3)),
    (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: [0-9:.]*(?: ?[AaPp][Mm])?)?"), (3, 1, 2)),
)


@functools.lru_cache(maxsize=65536)
def parse_date(name: str, value: str) -> tuple[dt.date | None, str | None]:
    """A date of service in ISO, YYYYMMDD or MM/DD/YYYY form; blank means none."""
    text = value.strip()
    if not text:
        return None, None
    for pattern, (y, m, d) in _DATE_FORMS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return dt.date(int(match.group(y)), int(match.group(m)), int(match.group(d))), None
            except ValueError:
                # Only the digits and separators are quoted, which a person needs to find the cell.
                return None, f"{name} '{text[: match.end(3)]}' is not a real date"
    return None, f"{name} is not a date (use YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY)"


def blank_line(line: int) -> SourceLine:
    """An empty line between entries: an error line, so that every line has a result."""
    return SourceLine(line_no=line, term="", error=f"line {line}: the line is blank")


def line_error(line: int, problems: Sequence[str]) -> str:
    return f"line {line}: " + "; ".join(problems) if problems else ""
