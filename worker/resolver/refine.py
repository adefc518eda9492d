"""Scored candidates checked against the entry's qualifiers: contradictions out, the sibling that fits in.

The token score cannot tell "with obstruction" from "without obstruction" ("with" is a stop
word), nor the left knee from the unspecified one when "left" is a common word. The entry's
qualifiers (worker.resolver.qualifiers) decide those: a candidate whose title contradicts them
is dropped; one that leaves a stated side, encounter or trimester unspecified is replaced by
its sibling that states it, and its 6-character code by the 7th character of the encounter.
"""

from __future__ import annotations

import dataclasses
import re

from worker.resolver import qualifiers as q
from worker.resolver.hierarchy import CodeTable
from worker.resolver.qualifiers import Qualifiers
from worker.resolver.scoring import Candidate

# A title that names the entry's stated qualifiers gains this much per qualifier; a code from a
# chapter the entry does not speak of (congenital, perinatal, pregnancy) keeps this share.
SATISFIED_BONUS = 0.02
CHAPTER_FACTOR = 0.85
ACUITY_FACTOR = 0.97
UNMET_FACTOR = 0.9
_QUALIFIER_WORDS = frozenset({
    "right", "left", "bilateral", "unilateral", "unspecified", "side", "initial", "subsequent",
    "encounter", "sequela", "for", "closed", "fracture", "with", "routine", "healing", "first",
    "second", "third", "trimester", "of", "and", "limb", "limbs", "upper", "lower", "ear", "eye",
    "the", "extremity", "both", "sides"})
# The default 7th character of each encounter: a fracture not said to be open is closed, and
# a subsequent encounter heals routinely unless the entry says otherwise (Guidelines I.C.19.a, c).
_SEVENTH_DEFAULT = {
    "initial": re.compile(r", initial encounter(?: for closed fracture)?$"),
    "subsequent": re.compile(r", subsequent encounter(?: for (?:closed )?fracture with routine "
                             r"healing)?$"),
    "sequela": re.compile(r", sequela$"),
}


def _frame(title: str) -> frozenset[str]:
    """A title's words apart from side, encounter and trimester: siblings share it."""
    return frozenset(w for w in re.findall(r"[a-z0-9]+", title.lower())
                     if w not in _QUALIFIER_WORDS)


def seventh(table: CodeTable, code: str, encounter: str) -> str | None:
    """The 7th-character code of `code` for the encounter's default kind, or None."""
    pattern = _SEVENTH_DEFAULT[encounter]
    for child in table.children.get(code, ()):
        if len(child) == 8 and child in table.billable and pattern.search(table.title(child)):
            return child
    return None


def sibling(table: CodeTable, entry: Qualifiers, code: str) -> str | None:
    """The code beside `code` (same parent, same words but for side, encounter, trimester)
    that states more of what the entry states, or None."""
    title = table.title(code)
    mine = q.of_title(code, title)
    have = q.satisfied(entry, mine)
    flat = code.replace(".", "")
    parent = flat[:-1]
    parent = parent if len(parent) <= 3 else f"{parent[:3]}.{parent[3:]}"
    frame = _frame(title)
    best, best_count = None, have
    for other in table.children.get(parent, ()):
        if other == code or len(other) != len(code):
            continue
        other_title = table.title(other)
        theirs = q.of_title(other, other_title)
        if q.conflict(entry, theirs) or _frame(other_title) != frame:
            continue
        count = q.satisfied(entry, theirs)
        if count > best_count:
            best, best_count = other, count
    return best


def apply(entry: Qualifiers, ranked: list[Candidate], table: CodeTable) -> list[Candidate]:
    """The candidates that do not contradict the entry, each replaced by its sibling that fits
    the entry's stated qualifiers, best first."""
    out: dict[str, Candidate] = {}
    stated = entry.stated()
    for candidate in ranked:
        code = candidate.code
        if stated:
            better = sibling(table, entry, code)
            code = better or code
            if not candidate.billable and entry.encounter:
                # A 6-character code whose 7th character the entry's encounter names.
                chosen = seventh(table, code, entry.encounter)
                if chosen is not None:
                    code = chosen
                    candidate = dataclasses.replace(candidate, billable=True)
        title_q = q.of_title(code, table.title(code))
        if q.conflict(entry, title_q):
            continue
        points = candidate.score
        if q.chapter_mismatch(entry, title_q):
            points *= CHAPTER_FACTOR
        elif entry.acuity is None and title_q.acuity in ("chronic", "acute on chronic") \
                and not candidate.perfect:
            # The Index's default for a condition named without acuity is seldom the chronic
            # form (DVT NOS is acute, I82.40-).
            points *= ACUITY_FACTOR
        if stated and q.unmet(entry, title_q) and (title_q.side == "unspecified"
                                                   or title_q.trimester == "unspecified"):
            # The entry names the side or trimester and this title leaves it unspecified.
            points *= UNMET_FACTOR
        points += SATISFIED_BONUS * q.satisfied(entry, title_q)
        known = out.get(code)
        if known is None or known.score < points:
            out[code] = dataclasses.replace(candidate, code=code, score=min(points, 1.0))
    return sorted(out.values(), key=lambda c: (-round(c.score, 6), not c.billable, c.kind,
                                               table.rank(c.code), c.code))


def qualifier_alternatives(table: CodeTable, code: str) -> list[str]:
    """The billable siblings of a code (the other sides, encounters, trimesters) first."""
    flat = code.replace(".", "")
    parent = flat[:-1]
    parent = parent if len(parent) <= 3 else f"{parent[:3]}.{parent[3:]}"
    frame = _frame(table.title(code))
    return [c for c in table.children.get(parent, ())
            if c != code and c in table.billable and _frame(table.title(c)) == frame]
