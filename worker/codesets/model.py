"""In-memory shapes of a parsed code-set source, before it is written to the database."""

from __future__ import annotations

import dataclasses
import datetime as dt

TERM_KINDS = ("title", "inclusion", "short_title", "synonym")


@dataclasses.dataclass(frozen=True, slots=True)
class CodeRow:
    code: str  # dotted, upper case: E11.9, W01.0XXA
    title: str
    billable: bool
    parent: str | None
    level: int  # 1 = category


@dataclasses.dataclass(frozen=True, slots=True)
class TermRow:
    code: str
    text: str
    kind: str  # one of TERM_KINDS


@dataclasses.dataclass(slots=True)
class ParsedRelease:
    """A whole release read from its source, validated, ready to load in one transaction."""

    label: str
    effective_from: dt.date
    effective_to: dt.date | None
    source: str
    checksum: str
    codes: list[CodeRow]
    terms: list[TermRow]
    notes: list[str] = dataclasses.field(default_factory=list)  # what was checked, for the output

    @property
    def billable_count(self) -> int:
        return sum(1 for c in self.codes if c.billable)


# GEM directions: CMS's forward file maps ICD-9-CM to ICD-10-CM, the backward file the reverse.
FORWARD = "forward"
BACKWARD = "backward"


@dataclasses.dataclass(frozen=True, slots=True)
class GemRow:
    """One GEM row as CMS writes it: source code, target code, the five flags."""

    source: str  # dotted code of the source system: 250.00, V45.81, E814.6 (forward); E11.9
    target: str | None  # dotted code of the other system; None for "no map"
    approximate: bool
    no_map: bool
    combination: bool
    scenario: int
    choice_list: int


@dataclasses.dataclass(frozen=True, slots=True)
class GemFile:
    """A whole GEM file, read and checked, ready to replace its direction's table."""

    direction: str  # FORWARD or BACKWARD
    rows: list[GemRow]
    source: str  # what it is, for `codeset load` and data_version
    checksum: str


def dot_icd10(code: str) -> str:
    """E119 -> E11.9; codes of three characters stay as they are."""
    code = code.strip().upper().replace(".", "")
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def dot_icd9(code: str) -> str:
    """4019 -> 401.9, V4581 -> V45.81, E8146 -> E814.6 (E codes have four characters before the dot)."""
    code = code.strip().upper().replace(".", "")
    head = 4 if code.startswith("E") else 3
    return code if len(code) <= head else f"{code[:head]}.{code[head:]}"
