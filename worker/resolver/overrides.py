"""Approved overrides: a term's mapping to one code, or several `+`-joined, on the date's release."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from worker.resolver import outcome as out
from worker.resolver.hierarchy import CodeTable
from worker.resolver.outcome import Outcome

# An approved mapping that says the entry has nothing to code (a review decision `no_match`).
NO_CODE = "no_match"


def resolve_override(code: str, table: CodeTable) -> Outcome:
    if code == NO_CODE:
        return out.no_match("approved override: nothing to code", out.OVERRIDE)
    if "+" in code:
        return _override_parts(code.split("+"), table)
    if code in table.billable:
        return out.resolved(code, table.title(code), out.OVERRIDE, out.CONFIDENCE_EXACT,
                            "approved override")
    successors = table.successors(code)
    if not successors:
        return out.no_match(f"the approved override {code} is no code of {table.label}",
                            out.OVERRIDE)
    return out.review([(c, table.title(c)) for c in successors], out.OVERRIDE,
                      f"the approved override {code} is not a billable code of {table.label}: "
                      "choose one of its successors")


def _override_parts(codes: Sequence[str], table: CodeTable) -> Outcome:
    """An approved mapping to several codes: all of them, `+`-joined in order, where each is
    billable in the release in force; otherwise a choice with each part's successors."""
    successors = [[c] if c in table.billable else table.successors(c) for c in codes]
    if all(len(found) == 1 and found[0] == c for found, c in zip(successors, codes, strict=True)):
        return out.resolved("+".join(codes), "; ".join(table.title(c) for c in codes),
                            out.OVERRIDE, out.CONFIDENCE_EXACT, "approved override")
    gone = [c for found, c in zip(successors, codes, strict=True) if not found]
    if gone:
        return out.no_match(f"the approved override {'+'.join(codes)} names {', '.join(gone)}, "
                            f"no code of {table.label}", out.OVERRIDE)
    options = ["+".join(combo) for combo in itertools.islice(itertools.product(*successors), 5)]
    return out.review([(o, "; ".join(table.title(c) for c in o.split("+"))) for o in options],
                      out.OVERRIDE, f"the approved override {'+'.join(codes)} names codes that are "
                      f"not billable in {table.label}: choose from their successors")
