"""Guideline combination codes (worker/data/combinations.csv): parts the guidelines code together."""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "data" / "combinations.csv"
KEEPS = ("none", "first", "second")


@dataclasses.dataclass(frozen=True, slots=True)
class Combination:
    """Codes matching `first` and `second` (a code, or a prefix ending in *) are coded as
    `combined`, followed by the parts `keep` names (the guideline's "use additional code")."""

    first: str
    second: str
    combined: str
    keep: str
    section: str


def _matches(pattern: str, code: str) -> bool:
    return code.startswith(pattern[:-1]) if pattern.endswith("*") else code == pattern


@functools.lru_cache(maxsize=4)
def load(path: Path = PATH) -> tuple[Combination, ...]:
    """The reviewed table; a row that is malformed names its line."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if row["keep"] not in KEEPS or not row["section"].strip():
                raise ValueError(f"{path}:{line}: keep must be one of {KEEPS} and section cited")
            rows.append(Combination(row["first"], row["second"], row["combined"], row["keep"],
                                    row["section"]))
    return tuple(rows)


def combine(codes: list[str]) -> tuple[list[str], list[str]]:
    """The codes with every guideline pair replaced by its combination, and the guideline
    sections applied. The combination takes the earlier part's place and a kept part (the
    guideline's "use additional code") the later one's; applied until nothing changes
    (HTN, CHF, CKD 3: I10 + I50.9 -> I11.0 + I50.9, then I11.0 + N18.30 -> I13.0 + N18.30)."""
    codes = list(codes)
    sections: list[str] = []
    table = load()
    for _ in range(len(codes) * 2):
        found = next(((i, j, row) for i, a in enumerate(codes) for j, b in enumerate(codes)
                      if i != j for row in table
                      if _matches(row.first, a) and _matches(row.second, b)), None)
        if found is None:
            break
        i, j, row = found
        kept = codes[j] if row.keep == "second" else codes[i] if row.keep == "first" else None
        low, high = min(i, j), max(i, j)
        codes[low] = row.combined
        if kept is None:
            del codes[high]
        else:
            codes[high] = kept
        codes = list(dict.fromkeys(codes))
        sections.append(row.section.split(" (")[0].split(";")[0])
    return codes, list(dict.fromkeys(sections))


@functools.lru_cache(maxsize=4)
def _categories(path: Path = PATH) -> frozenset[str]:
    return frozenset(c[:3] for row in load(path) for c in (row.first, row.second, row.combined))


def related(code: str) -> bool:
    """True when a code's category takes part in some combination (worth taking apart)."""
    return bool(code) and code[:3] in _categories()
