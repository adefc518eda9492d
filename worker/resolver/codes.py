"""ICD-10-CM code forms: exact, normalized, headers, missing placeholders, codes of other releases."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from worker.resolver import outcome as out
from worker.resolver.hierarchy import CodeTable
from worker.resolver.normalize import dotted
from worker.resolver.outcome import Outcome


def _choices(table: CodeTable, codes: Sequence[str]) -> list[tuple[str, str]]:
    return [(code, table.title(code)) for code in codes]


def placeholder_completions(flat: str, table: CodeTable) -> list[str]:
    """Billable codes the input becomes with placeholder X inserted: W010A -> W01.0XXA.

    A 7th character needs six characters before it; people drop the X's. Every way of
    putting the missing X's after the category and before the last character is tried.
    """
    missing = 7 - len(flat)
    if not 1 <= missing <= 3 or not flat[-1].isalpha():
        return []
    head, seventh = flat[:-1], flat[-1]
    found = []
    for positions in itertools.combinations(range(3, 6 + 1), missing):
        chars = list(head)
        for position in positions:
            if position > len(chars):
                break
            chars.insert(position, "X")
        else:
            candidate = dotted("".join(chars) + seventh)
            if len(candidate) == 8 and candidate in table.billable and candidate not in found:
                found.append(candidate)
    return found


def resolve_icd10(term: str, flat: str, table: CodeTable,
                  others: Sequence[CodeTable]) -> Outcome | None:
    """The outcome for an ICD-10-CM-shaped input, or None if it is no code of any release."""
    code = dotted(flat)
    exact = term == code
    if code in table:
        method = out.CODE_EXACT if exact else out.CODE_NORMALIZED
        if code in table.billable:
            confidence = out.CONFIDENCE_EXACT if exact else out.CONFIDENCE_NORMALIZED
            return out.resolved(code, table.title(code), method, confidence)
        children = table.suggestions(code)
        retired = next((o for o in others if code in o.billable), None)
        if retired is not None:
            # G35 on a 2026 date: billable until the release split it, a header now.
            return out.review(
                _choices(table, children), out.CODE_OTHER_RELEASE,
                f"{code} is a billable code of {retired.label} but a header in {table.label}, "
                "the release in force on the date of service: choose a successor "
                "(the unspecified one first)")
        seventh = bool(children) and _needs_seventh(code, children)
        what = ("needs a 7th character" if seventh
                else "is a category or subcategory (header), not a billable code")
        first = "the initial encounter" if seventh else "the unspecified one"
        return out.review(_choices(table, children), out.CODE_HEADER,
                          f"{code} {what} in {table.label}: choose one of its billable codes "
                          f"({first} first)")
    completions = placeholder_completions(flat, table)
    if len(completions) == 1:
        return out.resolved(completions[0], table.title(completions[0]), out.CODE_NORMALIZED,
                            out.CONFIDENCE_PLACEHOLDER,
                            "placeholder X added to reach the 7th character")
    if completions:
        return out.review(_choices(table, completions), out.CODE_NORMALIZED,
                          "the placeholder X can go in more than one place: choose the code")
    for other in others:
        if code in other:
            successors = table.successors(code)
            state = "a billable code" if code in other.billable else "a header"
            if not successors:
                return out.no_match(f"{code} is {state} of {other.label} with no counterpart in "
                                    f"{table.label}, the release in force", out.CODE_OTHER_RELEASE)
            return out.review(
                _choices(table, successors), out.CODE_OTHER_RELEASE,
                f"{code} is {state} of {other.label} but not a billable code of {table.label}, "
                f"the release in force on the date of service: choose a successor "
                f"(the unspecified one first)")
    return None


def _needs_seventh(code: str, children: Sequence[str]) -> bool:
    """True when the header's billable codes differ from it only by placeholder X and 7th character."""
    base = code.replace(".", "").ljust(6, "X")
    return all(c.replace(".", "")[:6] == base for c in children)


def well_formed_unknown(code: str) -> Outcome:
    return out.no_match(f"{code} has the form of an ICD-10-CM code but is a code of no loaded "
                        "release", out.CODE_NORMALIZED)
