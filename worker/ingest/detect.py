"""Format detection from a file's content (not its name): X12, JSONL or CSV, or a clear rejection."""

from __future__ import annotations

import codecs
import json

from worker.errors import FileRejected
from worker.ingest.common import EXPECTED

FORMATS = ("csv", "jsonl", "x12")
_ALIASES = {"ndjson": "jsonl", "json": "jsonl", "837": "x12", "edi": "x12", "tsv": "csv", "txt": "csv"}
# How many non-blank lines may be tried before deciding a file that starts with "{" is not JSONL.
_JSON_PROBE_LINES = 10


def normalise_format(format: str) -> str:
    """The canonical format name for a caller's spelling; ValueError for an unknown one."""
    name = format.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    return name


# Leading bytes of the compressed formats claims files arrive in: gzip, zip, bzip2, xz, zstd, 7z.
_COMPRESSED = (b"\x1f\x8b", b"PK\x03\x04", *(b"BZh%d" % n for n in range(1, 10)),
               b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf\x27\x1c")
# How much of the prefix is looked at to tell text from binary data.
_SAMPLE_BYTES = 64 * 1024


def check_readable(path: str, prefix: bytes) -> None:
    """Reject what no reader can use: empty, compressed, UTF-16 or binary files.

    Binary means control bytes are common: over one in twenty of the sample, where random or
    compressed data has about one in nine and a text file next to none. A text file with a few
    NULs or other control bytes is a claims file with some bad lines: each of those becomes an
    invalid_input line that says what is wrong with it, and the rest resolve.
    """
    if not prefix.strip():
        raise FileRejected(path, f"the file is empty; {EXPECTED}")
    if prefix.startswith(_COMPRESSED):
        raise FileRejected(path, f"is a compressed archive (gzip, zip, bzip2, xz, zstd or 7z); "
                                 f"unpack it first; {EXPECTED}")
    utf16 = f"is UTF-16 text; save it as UTF-8 (or Windows-1252); {EXPECTED}"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(path, utf16)
    sample = prefix[:_SAMPLE_BYTES]
    # UTF-16 without a byte-order mark: ASCII text with a NUL in every other byte, and only there.
    pairs = len(sample) // 2
    nuls = sorted((sample[0::2].count(0), sample[1::2].count(0)))
    if pairs >= 2 and nuls[1] * 2 > pairs and nuls[0] * 10 < pairs:
        raise FileRejected(path, utf16)
    controls = sum(map(sample.count, _CONTROL_BYTES))
    if controls * 20 > len(sample):
        raise FileRejected(path, f"looks binary (control bytes), not text; {EXPECTED}")


_CONTROL_BYTES = [bytes([b]) for b in range(0x20) if b not in b"\t\r\n\f"]


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def detect_format(path: str, prefix: bytes) -> str:
    """x12 when it starts with ISA, jsonl when its first lines are JSON objects, else csv.

    csv is the fallback: the CSV reader then rejects the file if no header with a term column is
    found, with the message for an unknown format.
    """
    check_readable(path, prefix)
    text = prefix.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    stripped = text.lstrip()
    # ISA then its element separator (never a letter or digit), so a header like "ISAAC,term" is CSV.
    if stripped.startswith("ISA") and not stripped[3:4].isalnum():
        return "x12"
    lines = [line for line in stripped.split("\n") if line.strip()]
    if lines and _is_json_object(lines[0]):
        return "jsonl"
    # A JSONL file whose first line is broken is still JSONL: look at a few more lines (a line cut
    # at the end of the prefix simply fails to parse).
    if (
        lines
        and lines[0].lstrip().startswith("{")
        and any(_is_json_object(line) for line in lines[1 : _JSON_PROBE_LINES + 1])
    ):
        return "jsonl"
    return "csv"
