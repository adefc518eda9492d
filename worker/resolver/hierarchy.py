"""The codes of one release in memory: titles, billable flags, children, default codes, successors."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from worker.memo import remember
from worker.resolver.normalize import split_term

_OTHER_AND_UNSPECIFIED = re.compile(r"^other and unspecified\b", re.IGNORECASE)
# Qualifiers that say "the usual case" rather than what the condition is.
_DEFAULT_PHRASES = re.compile(
    r"\bwithout\b(?:(?!\bwith\b)[^,])*|\buncomplicated\b|\bnot intractable\b"
    r"|\bnot specified as \w+|\bunspecified as [^,]*|\b(?:of )?unspecified site\b|\bsite unspecified\b",
    re.IGNORECASE,
)
_UNSPECIFIED_WORD = re.compile(r"\bunspecified\b")
# Shared by the releases of a process: most titles are the same in every release.
_RANKS: dict[str, int] = {}
_CORES: dict[str, frozenset[str]] = {}
_CACHE_LIMIT = 400_000


def _core_words(title: str) -> frozenset[str]:
    """The essential words of a title once its default qualifiers are set aside."""
    found = _CORES.get(title)
    if found is None:
        found = remember(_CORES, title, frozenset(split_term(_DEFAULT_PHRASES.sub(" ", title))[0]),
                         _CACHE_LIMIT)
    return found


def remember_core_words(pairs: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Take the essential words the text index already read from titles (most titles carry
    no default qualifier, so theirs are the core words), sparing a second reading."""
    for title, tokens in pairs:
        if title not in _CORES and not _DEFAULT_PHRASES.search(title):
            remember(_CORES, title, frozenset(tokens), _CACHE_LIMIT)


def default_rank(title: str) -> int:
    """0: the title names a default; 1: it mentions "unspecified"; 2: anything else.

    A child's title names the default of its parent the way the alphabetic index does:
    "Cerebral infarction, unspecified", "Pneumonia, unspecified organism", "Unspecified
    asthma", "Type 2 diabetes mellitus without complications", "Congestive heart failure NOS".
    """
    found = _RANKS.get(title)
    if found is None:
        found = remember(_RANKS, title, _rank(title), _CACHE_LIMIT)
    return found


def _rank(title: str) -> int:
    lower = title.lower()
    if lower.endswith((" nos", "without complications", "without complication",
                       ", not otherwise specified")):
        return 0
    unspecified = "unspecified" in lower and _UNSPECIFIED_WORD.search(lower) is not None
    if not unspecified and "not specified" not in lower:
        return 2
    last = lower.rsplit(",", 1)[1] if "," in lower else ""
    if (lower.startswith("unspecified ") or lower.endswith(" unspecified")
            or _UNSPECIFIED_WORD.search(last) or "not specified" in last):
        return 0
    return 1 if unspecified else 2


class CodeTable:
    """Every code of a release; headers know their billable descendants, default first."""

    __slots__ = ("label", "titles", "billable", "children", "_descendants", "_default",
                 "_suggestions")

    def __init__(self, label: str, rows: Iterable[tuple[str, str, bool, str | None]]) -> None:
        self.label = label
        self.titles: dict[str, str] = {}
        self.billable: set[str] = set()
        self.children: dict[str, list[str]] = {}
        intern = sys.intern  # titles and codes are shared by the releases of a process
        for code, title, billable, parent in rows:
            code, title = intern(code), intern(title)
            self.titles[code] = title
            if billable:
                self.billable.add(code)
            if parent:
                self.children.setdefault(parent, []).append(code)
        for kids in self.children.values():
            kids.sort()
        self._descendants: dict[str, tuple[str, ...]] = {}
        self._default: dict[str, str | None] = {}
        self._suggestions: dict[str, tuple[str, ...]] = {}

    def __contains__(self, code: str) -> bool:
        return code in self.titles

    def title(self, code: str) -> str:
        return self.titles.get(code, "")

    def billable_descendants(self, code: str) -> tuple[str, ...]:
        """Billable codes under `code`, the default ones first: rank, then depth, then code."""
        cached = self._descendants.get(code)
        if cached is not None:
            return cached
        found: list[tuple[int, int, str]] = []
        stack = [(child, 1) for child in self.children.get(code, ())]
        while stack:
            child, depth = stack.pop()
            if child in self.billable:
                found.append((self.rank(child), depth, child))
            stack.extend((grandchild, depth + 1) for grandchild in self.children.get(child, ()))
        ordered = tuple(code for _, _, code in sorted(found))
        self._descendants[code] = ordered
        return ordered

    def suggestions(self, code: str) -> list[str]:
        """Billable codes under a header for a person to choose from, the likeliest first: those
        under its default path first (S93.40 -> S93.409, whose 7th character a person picks:
        S93.409A first), then the rest default-first (billable_descendants)."""
        cached = self._suggestions.get(code)
        if cached is not None:
            return list(cached)
        deepest = code
        for _ in range(8):
            chosen = self._default_child(deepest) if deepest not in self.billable else None
            if chosen is None:
                break
            deepest = chosen
        everything = self.billable_descendants(code)
        if deepest == code:
            ordered = everything
        else:
            first = (deepest,) if deepest in self.billable else self.billable_descendants(deepest)
            taken = set(first)
            ordered = first + tuple(c for c in everything if c not in taken)
        self._suggestions[code] = ordered
        return list(ordered)

    def default_code(self, code: str) -> str | None:
        """The billable code a term naming `code` stands for, or None if a person must choose.

        A billable code is its own default. A header's default is followed down one child at
        a time, the way the alphabetic index's NOS entries point: the child that adds nothing
        to its parent's title but a default qualifier ("..., unspecified", "without
        complications", "uncomplicated"), else the one child titled as a default, else the one
        "Other and unspecified ..." child. E11 -> E11.9, I63 -> I63.9, J45 -> J45.909,
        G35 (FY2026) -> G35.D. A header whose children differ in substance (7th characters,
        laterality without an unspecified side) has no default.
        """
        if code in self.billable:
            return code
        if code in self._default:
            return self._default[code]
        result = None
        current = code
        for _ in range(8):
            chosen = self._default_child(current)
            if chosen is None:
                break
            current = chosen
            if current in self.billable:
                result = current
                break
        self._default[code] = result
        return result

    def _default_child(self, parent: str) -> str | None:
        kids = self.children.get(parent, ())
        if not kids or len(kids[0]) == 8:
            # No children, or 7th characters (initial, subsequent, sequela): a person chooses.
            return None
        ranks = {k: self.rank(k) for k in kids}
        # Only a child that carries a default qualifier can add nothing else to its parent.
        qualified = [k for k in kids if ranks[k] <= 1 or _DEFAULT_PHRASES.search(self.titles[k])]
        words = self.core_words(parent) if qualified else frozenset()
        plain = [k for k in qualified if self.core_words(k) <= words]
        for group in (
            plain,
            [k for k in plain if ranks[k] == 0],
            [k for k in plain if k.endswith("9")],
            [k for k in kids if ranks[k] == 0],
            [k for k in kids if ranks[k] == 0 and k.endswith("9")],
            [k for k in kids if _OTHER_AND_UNSPECIFIED.search(self.titles[k])],
        ):
            if len(group) == 1:
                return group[0]
        return None

    def core_words(self, code: str) -> frozenset[str]:
        return _core_words(self.titles[code])

    def rank(self, code: str) -> int:
        """default_rank of the code's title."""
        return default_rank(self.titles.get(code, ""))

    def nearest_ancestor(self, code: str) -> str | None:
        """The longest prefix of `code` that is a code of this release (placeholder X skipped)."""
        flat = code.replace(".", "")
        for cut in range(len(flat) - 1, 2, -1):
            prefix = flat[:cut].rstrip("X")
            if len(prefix) < 3:
                break
            candidate = prefix if len(prefix) == 3 else f"{prefix[:3]}.{prefix[3:]}"
            if candidate in self.titles:
                return candidate
        return None

    def successors(self, code: str) -> list[str]:
        """Billable codes of this release that take the place of `code` from another release.

        A code that is a header here gives its billable descendants (G35 -> G35.D first); a
        code that is gone gives those of its nearest ancestor, keeping its 7th character
        (T81.4XXA -> T81.40XA first); a code that is new gives its nearest billable ancestor.
        """
        if code in self.billable:
            return [code]
        if code in self.titles:
            return self.suggestions(code)
        ancestor = self.nearest_ancestor(code)
        if ancestor is None:
            return []
        if ancestor in self.billable:
            return [ancestor]
        found = self.suggestions(ancestor)
        flat = code.replace(".", "")
        if len(flat) == 7:
            same_seventh = [c for c in found if len(c) == 8 and c[-1] == flat[-1]]
            found = same_seventh or found
        return found
