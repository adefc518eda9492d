"""Load the accuracy evaluation set (bench/eval/accuracy.csv) into typed rows."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("accuracy.csv")
CLINICAL_PATH = Path(__file__).with_name("clinical.csv")
# The locked test split: rows whose input hashes here are never looked at while tuning.
TEST_SHARE = 30  # percent
SPLITS = ("dev", "test")
COLUMNS = ("category", "input", "system", "date_of_service", "expected", "acceptable", "source")
CATEGORIES = (
    "colloquial",
    "abbreviation",
    "misspelling",
    "short_title",
    "icd9",
    "code_form",
    "bad_input",
    "clinical",
    "rephrased",
)
SYSTEMS = ("auto", "icd9cm", "icd10cm", "text")
# An expected value that is a status rather than a code: the row passes when the result has it.
STATUSES = ("needs_review", "no_match", "invalid_input")

_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|\\)")


@dataclass(frozen=True)
class EvalRow:
    """One evaluation case: what was typed, and what a certified coder would expect back."""

    category: str
    input: str  # unescaped: control characters are real characters here
    system: str  # auto | icd9cm | icd10cm | text
    date_of_service: dt.date | None
    expected: str  # a dotted billable ICD-10-CM code, or one of STATUSES
    acceptable: tuple[str, ...]  # other codes (or statuses) a reviewer would also accept
    source: str
    line: int  # line number in the CSV file, for messages

    @property
    def expects_status(self) -> bool:
        """True when the row expects a status (needs_review / no_match / invalid_input), not a code."""
        return self.expected in STATUSES

    @property
    def split(self) -> str:
        """`dev` or the locked `test` split (see split_of)."""
        return split_of(self.input)

    @property
    def accepted(self) -> tuple[str, ...]:
        """The expected value followed by the acceptable ones."""
        return (self.expected, *self.acceptable)


def split_of(text: str) -> str:
    """`test` for about TEST_SHARE percent of entries, by a stable hash of the entry as typed
    (folded and stripped, so case variants of one entry share a split), else `dev`."""
    digest = hashlib.sha256(" ".join(text.lower().split()).encode("utf-8", "replace")).digest()
    return "test" if int.from_bytes(digest[:4], "big") % 100 < TEST_SHARE else "dev"


def load_all() -> list[EvalRow]:
    """accuracy.csv and clinical.csv, in that order."""
    return load_eval(DEFAULT_PATH) + load_eval(CLINICAL_PATH)


def unescape(text: str) -> str:
    r"""Turn the CSV's escapes back into characters: ``\xNN``, ``\uNNNN`` and ``\\``."""

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        return "\\" if body == "\\" else chr(int(body[1:], 16))

    return _ESCAPE.sub(replace, text)


def escape(text: str) -> str:
    r"""Write control and invisible characters as ``\xNN`` / ``\uNNNN`` so the CSV stays readable."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def load_eval(path: str | Path | None = None) -> list[EvalRow]:
    """Read the evaluation CSV (default: accuracy.csv beside this module), unescaping inputs.

    Raises ValueError naming the file and line when a row is malformed.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    rows: list[EvalRow] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(COLUMNS)}, got {reader.fieldnames}")
        for record in reader:
            line = reader.line_num
            category = record["category"]
            if category not in CATEGORIES:
                raise ValueError(f"{path}:{line}: unknown category {category!r}")
            system = record["system"] or "auto"
            if system not in SYSTEMS:
                raise ValueError(f"{path}:{line}: unknown system {system!r}")
            date_text = record["date_of_service"].strip()
            try:
                date_of_service = dt.date.fromisoformat(date_text) if date_text else None
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: date_of_service {date_text!r} is not ISO") from exc
            rows.append(
                EvalRow(
                    category=category,
                    input=unescape(record["input"]),
                    system=system,
                    date_of_service=date_of_service,
                    expected=record["expected"].strip(),
                    acceptable=tuple(a.strip() for a in record["acceptable"].split("|") if a.strip()),
                    source=record["source"],
                    line=line,
                )
            )
    return rows
