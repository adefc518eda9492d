"""`codeset diff OLD NEW`: codes added, deleted, retitled and expanded between two loaded releases."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy.orm import Session

from worker.codesets import catalog
from worker.resolver import loading
from worker.resolver.hierarchy import CodeTable

ADDED, DELETED, RETITLED, EXPANDED = "added", "deleted", "retitled", "expanded"
# A new title that differs only in accents, punctuation, case or spacing (Sezary -> Sézary,
# Meniere's -> Ménière's): nothing a coder must read, kept apart from the retitles that say
# something new (FY2026: 158 of 196).
RESPELLED = "respelled"
KINDS = (ADDED, DELETED, RETITLED, RESPELLED, EXPANDED)
_NOT_A_LETTER = re.compile(r"[\W_]+")


def _wording(title: str) -> str:
    """A title's words alone: accents, punctuation, case and spacing dropped."""
    decomposed = unicodedata.normalize("NFKD", title)
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_A_LETTER.sub(" ", letters.casefold()).strip()


@dataclasses.dataclass(frozen=True, slots=True)
class CodeChange:
    """One code that differs between two releases.

    `successors` are the billable codes of NEW that take a deleted or expanded code's place
    (the unspecified one first), the way the resolver proposes them.
    """

    kind: str
    code: str
    old_title: str
    new_title: str
    old_billable: bool | None
    new_billable: bool | None
    successors: tuple[str, ...] = ()


def release_table(session: Session, label: str) -> CodeTable:
    """Every code of a loaded release in memory (the resolver's own table)."""
    release = catalog.release_by_label(session, label)
    return CodeTable(release.label, loading.codes(session, release.id))


def compare(old: CodeTable, new: CodeTable) -> list[CodeChange]:
    """Every code that is not the same in both, ordered by code.

    A code that stops being billable because NEW gave it children is `expanded` even if its
    title also changed (the kind a coder must act on wins); a header that stays a header with a
    new title is `retitled`, or `respelled` when only accents, punctuation, case or spacing
    changed.
    """
    changes = []
    for code in sorted(old.titles.keys() | new.titles.keys()):
        in_old, in_new = code in old, code in new
        old_billable = code in old.billable if in_old else None
        new_billable = code in new.billable if in_new else None
        old_title, new_title = old.title(code), new.title(code)
        if not in_old:
            kind = ADDED
        elif not in_new:
            kind = DELETED
        elif old_billable and not new_billable:
            kind = EXPANDED
        elif old_title != new_title:
            kind = RESPELLED if _wording(old_title) == _wording(new_title) else RETITLED
        else:
            continue
        successors = tuple(new.successors(code)) if kind in (DELETED, EXPANDED) else ()
        changes.append(CodeChange(kind, code, old_title, new_title, old_billable, new_billable,
                                  successors))
    return changes


def diff_releases(session: Session, old_label: str, new_label: str) -> list[CodeChange]:
    """Compare two loaded releases by label; NoReleaseError names the loaded ones if unknown."""
    return compare(release_table(session, old_label), release_table(session, new_label))


def counts(changes: Iterable[CodeChange]) -> dict[str, int]:
    """Changes per kind, every kind present (zero when none)."""
    out = dict.fromkeys(KINDS, 0)
    for change in changes:
        out[change.kind] += 1
    return out
