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


def default_rank(title: str) -> int:
    """0: the title names a default; 1: it mentions "unspecified"; 2: anything else."""
    if _DEFAULT_TITLE.search(title):
        return 0
    if _UNSPECIFIED.search(title):
        return 1
    return 2


class CodeTable:
    """Every code of a release; headers know their billable descendants, default first."""

    __slots__ = ("label", "titles", "billable", "children", "_descendants", "_default")

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
                found.append((default_rank(self.titles[child]), depth, child))
            stack.extend((grandchild, depth + 1) for grandchild in self.children.get(child, ()))
        ordered = tuple(code for _, _, code in sorted(found))
        self._descendants[code] = ordered
        return ordered

    def default_code(self, code: str) -> str | None:
        """The billable code a term naming `code` stands for, or None if a person must choose.

        A billable code is its own default. A header's default is the child whose title names
        a default ("..., unspecified", "without complications", "NOS"), followed down to a
        billable code: E11 -> E11.9, I63 -> I63.9, G35 (FY2026) -> G35.D. A header whose
        children all differ in substance (7th characters, laterality without an unspecified
        side) has no default.
        """
        if code in self.billable:
            return code
        if code in self._default:
            return self._default[code]
        result = None
        current = code
        for _ in range(8):
            kids = self.children.get(current, ())
            chosen = self._default_child(current, [k for k in kids if default_rank(self.titles[k]) == 0])
            if chosen is None:
                break
            current = chosen
            if current in self.billable:
                result = current
                break
        self._default[code] = result
        return result

    def _default_child(self, parent: str, defaults: list[str]) -> str | None:
        """One of several "unspecified" children: the one that adds nothing to its parent's
        title (I50 "Heart failure" -> I50.9 "Heart failure, unspecified", not I50.1 "Left
        ventricular failure, unspecified"), else the one ending in 9 (the ICD convention)."""
        if len(defaults) <= 1:
            return defaults[0] if defaults else None
        essential, optional, _ = split_term(self.titles[parent])
        words = set(essential) | set(optional)
        plain = [k for k in defaults if set(split_term(self.titles[k])[0]) <= words]
        if len(plain) == 1:
            return plain[0]
        nines = [k for k in (plain or defaults) if k.endswith("9")]
        return nines[0] if len(nines) == 1 else None

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
