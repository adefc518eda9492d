"""The codes of one release in memory: titles, billable flags, children, default codes, successors."""

from __future__ import annotations

import re
from collections.abc import Iterable

from worker.resolver.normalize import split_term

# A child's title that names the default of its parent, the way the alphabetic index does:
# "Cerebral infarction, unspecified", "Pneumonia, unspecified organism", "Unspecified asthma",
# "Type 2 diabetes mellitus without complications", "Congestive heart failure NOS".
_DEFAULT_TITLE = re.compile(
    r"(,[^,]*\b(unspecified|not specified)\b[^,]*$|\bunspecified$|^unspecified\b"
    r"|\bwithout complications?$|\bNOS$|, not otherwise specified$)",
    re.IGNORECASE,
)
_UNSPECIFIED = re.compile(r"\bunspecified\b", re.IGNORECASE)
_OTHER_AND_UNSPECIFIED = re.compile(r"^other and unspecified\b", re.IGNORECASE)
# Qualifiers that say "the usual case" rather than what the condition is.
_DEFAULT_PHRASES = re.compile(
    r"\bwithout\b(?:(?!\bwith\b)[^,])*|\buncomplicated\b|\bnot intractable\b|\bnot specified as \w+",
    re.IGNORECASE,
)


def _core_words(title: str) -> set[str]:
    """The essential words of a title once its default qualifiers are set aside."""
    return set(split_term(_DEFAULT_PHRASES.sub(" ", title))[0])


def default_rank(title: str) -> int:
    """0: the title names a default; 1: it mentions "unspecified"; 2: anything else."""
    if _DEFAULT_TITLE.search(title):
        return 0
    if _UNSPECIFIED.search(title):
        return 1
    return 2


class CodeTable:
    """Every code of a release; headers know their billable descendants, default first."""

    __slots__ = ("label", "titles", "billable", "children", "_descendants", "_default", "_core",
                 "_rank")

    def __init__(self, label: str, rows: Iterable[tuple[str, str, bool, str | None]]) -> None:
        self.label = label
        self.titles: dict[str, str] = {}
        self.billable: set[str] = set()
        self.children: dict[str, list[str]] = {}
        for code, title, billable, parent in rows:
            self.titles[code] = title
            if billable:
                self.billable.add(code)
            if parent:
                self.children.setdefault(parent, []).append(code)
        for kids in self.children.values():
            kids.sort()
        self._descendants: dict[str, tuple[str, ...]] = {}
        self._default: dict[str, str | None] = {}
        self._core: dict[str, frozenset[str]] = {}
        self._rank: dict[str, int] = {}

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
        if not kids:
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
        found = self._core.get(code)
        if found is None:
            found = self._core[code] = frozenset(_core_words(self.titles[code]))
        return found

    def rank(self, code: str) -> int:
        """default_rank of the code's title, remembered."""
        found = self._rank.get(code)
        if found is None:
            found = self._rank[code] = default_rank(self.titles.get(code, ""))
        return found

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
            return list(self.billable_descendants(code))
        ancestor = self.nearest_ancestor(code)
        if ancestor is None:
            return []
        if ancestor in self.billable:
            return [ancestor]
        found = list(self.billable_descendants(ancestor))
        flat = code.replace(".", "")
        if len(flat) == 7:
            same_seventh = [c for c in found if len(c) == 8 and c[-1] == flat[-1]]
            found = same_seventh or found
        return found
