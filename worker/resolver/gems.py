"""ICD-9-CM codes through the General Equivalence Mappings, flags kept, targets followed to billable codes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from worker.resolver import outcome as out
from worker.resolver.hierarchy import CodeTable
from worker.resolver.loading import GemTarget
from worker.resolver.outcome import Outcome

# Combinations are listed, not enumerated without end: a few scenarios of a few slots each.
_MAX_COMBINATIONS = 25


def _follow(target: str, table: CodeTable) -> list[str]:
    """The billable codes of the release that stand for a GEM target (itself if billable)."""
    if target in table.billable:
        return [target]
    return table.successors(target)


def resolve_icd9(code9: str, gem: Mapping[str, Sequence[GemTarget]], table: CodeTable) -> Outcome:
    rows = gem.get(code9)
    if not rows:
        return out.no_match(f"{code9} is not an ICD-9-CM code of the GEMs", out.ICD9_GEM)
    mapped = [row for row in rows if not row.no_map and row.icd10_code]
    if not mapped:
        return out.no_match(f"the GEMs have no ICD-10-CM equivalent for {code9} (no map)",
                            out.ICD9_GEM)
    approximate = any(row.approximate for row in mapped)
    if any(row.combination for row in mapped):
        return _combination(code9, mapped, table, approximate)
    targets = list(dict.fromkeys(row.icd10_code for row in mapped if row.icd10_code))
    if len(targets) > 1:
        followed = list(dict.fromkeys(c for t in targets for c in _follow(t, table)))
        return out.review(
            [(c, table.title(c)) for c in followed], out.ICD9_GEM,
            f"the GEMs map {code9} to {len(targets)} alternative ICD-10-CM codes: choose one")
    target = targets[0]
    followed = _follow(target, table)
    if not followed:
        return out.no_match(f"the GEM target {target} of {code9} has no counterpart in "
                            f"{table.label}", out.ICD9_GEM)
    note = ("approximate GEM mapping: the ICD-10-CM code is not an exact equivalent"
            if approximate else "")
    if followed != [target]:
        moved = (f"the GEM target {target} is not a billable code of {table.label}, "
                 f"followed to its billable codes")
        if len(followed) > 1:
            return out.review([(c, table.title(c)) for c in followed], out.ICD9_GEM,
                              f"{moved}: choose one (the unspecified one first)")
        note = f"{moved}; {note}" if note else moved
    confidence = out.CONFIDENCE_GEM_APPROXIMATE if approximate or note else out.CONFIDENCE_GEM_EXACT
    return out.resolved(followed[0], table.title(followed[0]), out.ICD9_GEM, confidence, note)


def _combination(code9: str, rows: Sequence[GemTarget], table: CodeTable,
                 approximate: bool) -> Outcome:
    """A combination needs one code from each choice list of a scenario, joined with `+`."""
    scenarios: dict[int, dict[int, list[str]]] = {}
    for row in rows:
        assert row.icd10_code is not None
        slots = scenarios.setdefault(row.scenario, {})
        choices = slots.setdefault(row.choice_list, [])
        for code in _follow(row.icd10_code, table):
            if code not in choices:
                choices.append(code)
    options: list[tuple[str, str]] = []
    single = True
    for _, slots in sorted(scenarios.items()):
        ordered = [slots[n] for n in sorted(slots)]
        if any(not choices for choices in ordered):
            continue
        single = single and all(len(choices) == 1 for choices in ordered)
        for combo in itertools.islice(itertools.product(*ordered), _MAX_COMBINATIONS):
            options.append(("+".join(combo), "; ".join(table.title(c) for c in combo)))
    if not options:
        return out.no_match(f"the GEM combination targets of {code9} have no counterpart in "
                            f"{table.label}", out.ICD9_GEM)
    if single and len(options) == 1:
        code, title = options[0]
        message = f"GEM combination: {code9} needs all {code.count('+') + 1} codes"
        if approximate:
            message += " (approximate mapping)"
        confidence = out.CONFIDENCE_GEM_APPROXIMATE if approximate else out.CONFIDENCE_GEM_EXACT
        return out.resolved(code, title, out.ICD9_GEM, confidence, message)
    return out.review(options, out.ICD9_GEM,
                      f"GEM combination with choices: {code9} needs one code from each choice list "
                      f"({len(scenarios)} scenario(s)); choose a combination")
