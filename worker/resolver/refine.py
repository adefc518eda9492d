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

from worker.memo import remember
from worker.resolver import qualifiers as q
from worker.resolver.hierarchy import CodeTable
from worker.resolver.normalize import STOPWORDS, stem, text_key, words
from worker.resolver.qualifiers import Qualifiers
from worker.resolver.scoring import Candidate

# A title that names the entry's stated qualifiers gains this much per qualifier; a code from a
# chapter the entry does not speak of (congenital, perinatal, pregnancy) keeps this share.
SATISFIED_BONUS = 0.02
CHAPTER_FACTOR = 0.85
ACUITY_FACTOR = 0.97
UNMET_FACTOR = 0.9
UNNAMED_WITH_FACTOR = 0.97
SIBLING_REACH = 0.15
_QUALIFIER_WORDS = frozenset({
    "right", "left", "bilateral", "unilateral", "unspecified", "side", "sided", "initial",
    "subsequent", "encounter", "sequela", "both", "sides", "rt", "lt", "r", "l",
    "init", "subs", "bil", "bilat", "with", "nos"})
# The 7th character's words: siblings differ in them, and the encounter picks them (seventh).
_SEVENTH_WORDS = re.compile(r", (?:initial|subsequent) encounter\b.*$|, sequela$"
                            r"|\b(?:first|second|third|unspecified|1st|2nd|3rd) trimester\b")
# A candidate that states every qualifier the entry states, and whose other words are the
# entry's words exactly, is as sure as a term matched up to word order.
CONFIDENCE_QUALIFIED = 0.93
# The default 7th character of each encounter: a fracture not said to be open is closed, and
# a subsequent encounter heals routinely unless the entry says otherwise (Guidelines I.C.19.a, c).
_SEVENTH_DEFAULT = {
    "initial": re.compile(r", initial encounter(?: for closed fracture)?$"),
    "subsequent": re.compile(r", subsequent encounter(?: for (?:closed )?fracture with routine "
                             r"healing)?$"),
    "sequela": re.compile(r", sequela$"),
}


def _frame(title: str) -> frozenset[str]:
    """A title's (or an entry's) words apart from side, encounter, trimester and stop words,
    stemmed: siblings share it."""
    found = _FRAMES.get(title)
    if found is None:
        text = _SEVENTH_WORDS.sub("", title.lower())
        found = remember(_FRAMES, title, frozenset(
            stem(w) for w in words(text_key(text))
            if w not in _QUALIFIER_WORDS and w not in STOPWORDS), 200_000)
    return found


_FRAMES: dict[str, frozenset[str]] = {}
# What sets siblings apart: their side, 7th character or trimester. Taken out, siblings'
# titles read the same ("Pain in left knee", "Pain in unspecified knee" -> "pain in knee").
_SIBLING_WORDS = re.compile(
    r"\b(?:right|left|bilateral|unilateral|unspecified|(?:first|second|third) (?=trimester))\b"
    r"|, (?:initial|subsequent) encounter\b.*$|, sequela$")
_SHAPES: dict[str, str] = {}


def _shape(title: str) -> str:
    found = _SHAPES.get(title)
    if found is None:
        found = remember(_SHAPES, title,
                         " ".join(_SIBLING_WORDS.sub(" ", title.lower()).replace(",", " ").split()),
                         200_000)
    return found


def seventh(table: CodeTable, code: str, encounter: str) -> str | None:
    """The 7th-character code of `code` for the encounter's default kind, or None."""
    pattern = _SEVENTH_DEFAULT[encounter]
    for child in table.children.get(code, ()):
        if len(child) == 8 and child in table.billable and pattern.search(table.title(child)):
            return child
    return None


def sibling(table: CodeTable, entry: Qualifiers, code: str) -> str | None:
    """The code beside `code` (same parent, same words but for side, encounter, trimester)
    that states more of what the entry states, or None (remembered per code and the
    qualifiers a sibling can differ in)."""
    memo_key = (table.label, code, entry.side, entry.encounter, entry.acuity, entry.trimester,
                entry.stage, entry.with_, entry.without, entry.history, entry.exposure,
                entry.congenital, entry.acquired, entry.other, entry.unspecified)
    found = _SIBLINGS.get(memo_key, _NONE)
    if found is _NONE:
        found = remember(_SIBLINGS, memo_key, _sibling(table, entry, code), 200_000)
    return found  # type: ignore[return-value]


_SIBLINGS: dict[tuple[object, ...], str | None] = {}
_NONE = object()


def _sibling(table: CodeTable, entry: Qualifiers, code: str) -> str | None:
    title = table.title(code)
    mine = q.of_title(code, title)
    have = q.satisfied(entry, mine)
    flat = code.replace(".", "")
    parent = flat[:-1]
    parent = parent if len(parent) <= 3 else f"{parent[:3]}.{parent[3:]}"
    shape = _shape(title)
    best, best_count = None, have
    for other in table.children.get(parent, ()):
        if other == code or len(other) != len(code):
            continue
        other_title = table.title(other)
        if _shape(other_title) != shape:
            continue
        theirs = q.of_title(other, other_title)
        if q.conflict(entry, theirs):
            continue
        count = q.satisfied(entry, theirs)
        if count > best_count:
            best, best_count = other, count
    return best


def descend(table: CodeTable, entry: Qualifiers, code: str) -> str:
    """From a header, the child (and its child) that states what the entry states and adds
    nothing else (S72.00 "... neck of femur" -> S72.001 "... neck of right femur")."""
    for _ in range(3):
        shape = _shape(table.title(code))
        best, best_count = None, 0
        for child in table.children.get(code, ()):
            if len(child) == 8:
                break  # 7th characters: the encounter picks them (seventh)
            if _shape(table.title(child)) != shape:
                continue
            child_q = q.of_title(child, table.title(child))
            if q.conflict(entry, child_q):
                continue
            count = q.satisfied(entry, child_q)
            if count > best_count:
                best, best_count = child, count
        if best is None:
            break
        code = best
    return code


def apply(entry: Qualifiers, ranked: list[Candidate], table: CodeTable, key: str = ""
          ) -> list[Candidate]:
    """The candidates that do not contradict the entry (text key `key`), each replaced by its
    sibling that fits the entry's stated qualifiers, best first."""
    out: dict[str, Candidate] = {}
    stated = entry.stated()
    countable = _countable(entry) if stated else 0
    entry_frame = _frame(key) if countable and key else None
    changed = False
    entry_words = frozenset(stem(w) for w in key.split())
    # Siblings are looked for only near the top: far below it no bonus can make a winner.
    floor = ranked[0].score - SIBLING_REACH if ranked else 0.0
    for candidate in ranked:
        code = candidate.code
        billable = candidate.billable
        title_q = q.of_title(code, table.title(code))
        if countable and candidate.score >= floor and (
                not billable or q.unmet(entry, title_q)
                or title_q.side == "unspecified" and entry.side):
            # Only a title short of what the entry states has a sibling to look for.
            code = sibling(table, entry, code) or code
            if not billable:
                code = descend(table, entry, code)
                if entry.encounter:
                    # A 6-character code whose 7th character the entry's encounter names.
                    chosen = seventh(table, code, entry.encounter)
                    if chosen is not None:
                        code, billable = chosen, True
            if code != candidate.code:
                title_q = q.of_title(code, table.title(code))
        if q.conflict(entry, title_q):
            changed = True
            continue
        points = candidate.score
        if q.chapter_mismatch(entry, title_q):
            points *= CHAPTER_FACTOR
        elif entry.acuity is None and title_q.acuity in ("chronic", "acute on chronic") \
                and not candidate.perfect:
            # The Index's default for a condition named without acuity is seldom the chronic
            # form (DVT NOS is acute, I82.40-).
            points *= ACUITY_FACTOR
        elif entry.acuity is None and title_q.acuity == "chronic or unspecified" \
                and not candidate.perfect:
            # A title saying "chronic or unspecified" is the one the tabular gives a condition
            # named without acuity (K25.4 for "gastric ulcer with hemorrhage", not K25.0 acute).
            points += SATISFIED_BONUS
        if title_q.with_ and not candidate.perfect and not title_q.with_ <= entry_words:
            # A title adding "with X" the entry does not name: the Index's default for a
            # condition named without its complication is the "without" code (diverticulitis
            # with bleeding is K57.33 "without perforation or abscess with bleeding", not
            # K57.21 "with perforation and abscess with bleeding").
            points *= UNNAMED_WITH_FACTOR
        if countable:
            met = q.satisfied(entry, title_q)
            unmet = q.unmet(entry, title_q)
            if unmet and (title_q.side == "unspecified" or title_q.trimester == "unspecified"):
                # The entry names the side or trimester and this title leaves it unspecified.
                points *= UNMET_FACTOR
            points += SATISFIED_BONUS * met
            if entry_frame and billable and not unmet and met >= countable \
                    and _frame(table.title(code)) == entry_frame \
                    and _says_unspecified(table.title(code)) <= _says_unspecified(key):
                points = max(points, CONFIDENCE_QUALIFIED)
        points = min(points, 1.0)
        if code != candidate.code or points != candidate.score:
            changed = True
        known = out.get(code)
        if known is None or known.score < points:
            out[code] = candidate if (code == candidate.code and points == candidate.score
                                      and billable == candidate.billable) else \
                dataclasses.replace(candidate, code=code, score=points, billable=billable)
    if not changed and len(out) == len(ranked):
        return ranked  # already in order
    return sorted(out.values(), key=lambda c: (-round(c.score, 6), not c.billable, c.kind,
                                               table.rank(c.code), c.code))


def _says_unspecified(text: str) -> bool:
    """"unspecified" or "other" as a word: the frame drops them, the boost must not."""
    found = text_key(text).split()
    return "unspecified" in found or "other" in found


def _countable(entry: Qualifiers) -> int:
    """How many qualifiers `satisfied` can count for the entry."""
    return sum(bool(x) for x in (entry.side, entry.encounter, entry.acuity, entry.with_,
                                 entry.without, entry.trimester, entry.stage))


def qualifier_alternatives(table: CodeTable, code: str) -> list[str]:
    """The billable siblings of a code (the other sides, encounters, trimesters) first."""
    flat = code.replace(".", "")
    parent = flat[:-1]
    parent = parent if len(parent) <= 3 else f"{parent[:3]}.{parent[3:]}"
    shape = _shape(table.title(code))
    return [c for c in table.children.get(parent, ())
            if c != code and c in table.billable and _shape(table.title(c)) == shape]
