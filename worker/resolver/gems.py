"""ICD-9-CM codes and titles through CMS's General Equivalence Mappings, flags used as CMS defines them.

- One target (approximate or not) resolves; approximate says so, with lower confidence.
- A combination with one scenario and one code per choice list resolves to those codes
  joined with `+`, in choice-list order.
- Several scenarios, a choice list of several codes, or several targets without the
  combination flag are CMS offering a choice: `needs_review` with the targets as alternatives.
- No map is `no_match`, saying the GEMs have no equivalent.
- A target that is no longer billable in the release of the date of service is followed to
  its billable successors (a choice where there are several).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping, Sequence

from worker.resolver import outcome as out
from worker.resolver.hierarchy import CodeTable
from worker.resolver.loading import GemTarget
from worker.resolver.normalize import text_key
from worker.resolver.outcome import Outcome

# Combinations are listed, not enumerated without end: a few scenarios of a few slots each.
_MAX_COMBINATIONS = 25
# An ICD-9-CM title in a message is cut here: messages are read on one line.
_TITLE_IN_MESSAGE = 90


def title_index(titles: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Exact-match key of every CMS ICD-9-CM title -> the codes that have it (long titles first:
    a short title shared with another code's long title comes after it)."""
    keyed: dict[str, list[str]] = {}
    for slot in (0, 1):
        for code, pair in titles.items():
            key = text_key(pair[slot]) if pair[slot] else ""
            if key:
                found = keyed.setdefault(key, [])
                if code not in found:
                    found.append(code)
    return {key: tuple(codes) for key, codes in keyed.items()}


@dataclasses.dataclass
class Icd9Data:
    """The forward GEM and CMS's ICD-9-CM titles, read once per process."""

    gem: dict[str, tuple[GemTarget, ...]]
    titles: Mapping[str, tuple[str, str]]  # code -> (long, short)

    @functools.cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """ICD-9-CM headers (521.2, 250) -> their billable codes: the GEMs list only those."""
        under: dict[str, list[str]] = {}
        for code in sorted(self.gem):
            flat = code.replace(".", "")
            for cut in range(4 if flat.startswith("E") else 3, len(flat)):
                under.setdefault(flat[:cut], []).append(code)
        return {flat: tuple(codes) for flat, codes in under.items()}

    def name(self, code9: str) -> str:
        """`250.00 (Diabetes mellitus without mention of complication, …)` for messages."""
        title = self.titles.get(code9, ("", ""))[0]
        if not title:
            return code9
        if len(title) > _TITLE_IN_MESSAGE:
            title = title[:_TITLE_IN_MESSAGE - 1].rstrip(" ,;") + "…"
        return f"{code9} ({title})"


def _follow(target: str, table: CodeTable) -> list[str]:
    """The billable codes of the release that stand for a GEM target (itself if billable)."""
    if target in table.billable:
        return [target]
    return table.successors(target)


def resolve_icd9(code9: str, data: Icd9Data, table: CodeTable) -> Outcome:
    rows = data.gem.get(code9)
    if not rows:
        codes9 = data.children.get(code9.replace(".", ""))
        if codes9:
            return _header(code9, codes9, data, table)
        return out.no_match(f"{code9} is not an ICD-9-CM diagnosis code of CMS's GEMs "
                            "(ICD-9-CM v32)", out.ICD9_GEM)
    name = data.name(code9)
    mapped = [row for row in rows if not row.no_map and row.icd10_code]
    if not mapped:
        return out.no_match(f"the GEMs have no ICD-10-CM equivalent for ICD-9-CM {name} (no map)",
                            out.ICD9_GEM)
    approximate = any(row.approximate for row in mapped)
    if any(row.combination for row in mapped):
        return _combination(name, mapped, table, approximate)
    targets = list(dict.fromkeys(row.icd10_code for row in mapped if row.icd10_code))
    if len(targets) > 1:
        followed = list(dict.fromkeys(c for t in targets for c in _follow(t, table)))
        return out.review(
            [(c, table.title(c)) for c in followed], out.ICD9_GEM,
            f"the GEMs map ICD-9-CM {name} to {len(targets)} alternative ICD-10-CM codes: "
            "choose one")
    target = targets[0]
    followed = _follow(target, table)
    if not followed:
        return out.no_match(f"the GEM target {target} of ICD-9-CM {name} has no counterpart in "
                            f"{table.label}", out.ICD9_GEM)
    note = (f"approximate GEM mapping of ICD-9-CM {name}: the ICD-10-CM code is not an exact "
            "equivalent" if approximate else "")
    if followed != [target]:
        moved = (f"the GEM target {target} of ICD-9-CM {name} is not a billable code of "
                 f"{table.label}, followed to its billable codes")
        if len(followed) > 1:
            return out.review([(c, table.title(c)) for c in followed], out.ICD9_GEM,
                              f"{moved}: choose one (the unspecified one first)")
        note = f"{moved}; approximate mapping" if approximate else moved
    confidence = out.CONFIDENCE_GEM_APPROXIMATE if approximate or note else out.CONFIDENCE_GEM_EXACT
    return out.resolved(followed[0], table.title(followed[0]), out.ICD9_GEM, confidence, note)


def _header(code9: str, codes9: Sequence[str], data: Icd9Data, table: CodeTable) -> Outcome:
    """521.2 is an ICD-9-CM subcategory: its codes 521.20-521.25 map, it does not."""
    choices: list[tuple[str, str]] = []
    answers = set()
    for child in codes9:
        found = resolve_icd9(child, data, table)
        answers.add((found.status, found.code))
        offered = reading_choices(found, table)
        if offered and offered[0] not in choices:
            choices.append(offered[0])
    shown = ", ".join(codes9[:3]) + (", …" if len(codes9) > 3 else "")
    if len(answers) == 1 and next(iter(answers))[0] == "resolved":
        code, title = choices[0]
        return out.resolved(code, title, out.ICD9_GEM, out.CONFIDENCE_GEM_APPROXIMATE,
                            f"{code9} is an ICD-9-CM category, not a billable code; the GEMs map "
                            f"all its {len(codes9)} codes ({shown}) to {code}")
    return out.review(choices, out.ICD9_GEM,
                      f"{code9} is an ICD-9-CM category, not a billable code: the GEMs map its "
                      f"{len(codes9)} codes ({shown}); choose the ICD-10-CM code")


def _combination(name: str, rows: Sequence[GemTarget], table: CodeTable,
                 approximate: bool) -> Outcome:
    """A combination needs one code from each choice list of a scenario, joined with `+`.

    Rows without the combination flag beside combination rows (249.51: E08.39 alone, or
    E08.311 with E08.65) are a scenario of their own: another choice.
    """
    scenarios: dict[tuple[bool, int], dict[int, list[str]]] = {}
    for row in rows:
        assert row.icd10_code is not None
        slots = scenarios.setdefault((row.combination, row.scenario), {})
        choices = slots.setdefault(row.choice_list, [])
        for code in _follow(row.icd10_code, table):
            if code not in choices:
                choices.append(code)
    options: list[tuple[str, str]] = []
    single = len(scenarios) == 1
    for _, slots in sorted(scenarios.items()):
        ordered = [slots[n] for n in sorted(slots)]
        if any(not choices for choices in ordered):
            continue
        single = single and all(len(choices) == 1 for choices in ordered)
        for combo in itertools.islice(itertools.product(*ordered), _MAX_COMBINATIONS):
            option = ("+".join(combo), "; ".join(table.title(c) for c in combo))
            if option not in options:
                options.append(option)
    if not options:
        return out.no_match(f"the GEM combination targets of ICD-9-CM {name} have no counterpart "
                            f"in {table.label}", out.ICD9_GEM)
    if single and len(options) == 1:
        code, title = options[0]
        message = f"GEM combination: ICD-9-CM {name} needs all {code.count('+') + 1} codes"
        if approximate:
            message += " (approximate mapping)"
        confidence = out.CONFIDENCE_GEM_APPROXIMATE if approximate else out.CONFIDENCE_GEM_EXACT
        return out.resolved(code, title, out.ICD9_GEM, confidence, message)
    return out.review(options, out.ICD9_GEM,
                      f"GEM combination with choices: ICD-9-CM {name} needs one code from each "
                      f"choice list ({len(scenarios)} scenario(s)); choose a combination")


def resolve_icd9_title(codes9: Sequence[str], data: Icd9Data, table: CodeTable) -> Outcome:
    """An ICD-9-CM title typed as text (legacy systems store the title, not the code): the GEM
    outcome of the codes with that title (title_index), method `icd9_title`, the code named."""
    found = [(code9, resolve_icd9(code9, data, table)) for code9 in codes9]
    if len(found) == 1:
        code9, outcome = found[0]
        why = f"the ICD-9-CM title of {code9}"
        message = f"{why}; {outcome.message}" if outcome.message else why
        return dataclasses.replace(outcome, method=out.ICD9_TITLE, message=message)
    answers = {(o.status, o.code) for _, o in found}
    named = ", ".join(code9 for code9, _ in found)
    if len(answers) == 1:
        outcome = found[0][1]
        return dataclasses.replace(outcome, method=out.ICD9_TITLE,
                                   message=f"the ICD-9-CM title of {named}, which map alike")
    choices: list[tuple[str, str]] = []
    for _, outcome in found:
        choices.extend(c for c in reading_choices(outcome, table) if c not in choices)
    return out.review(choices, out.ICD9_TITLE,
                      f"the title of ICD-9-CM {named}, which map differently: choose one")


def reading_choices(outcome: Outcome, table: CodeTable) -> list[tuple[str, str]]:
    """The codes an outcome offers, best first, each with its title (`+` joined alike)."""
    if outcome.status == "needs_review" and outcome.alternatives:
        codes = outcome.alternatives.split("|")
    else:
        codes = [outcome.code] if outcome.code else []
    return [(code, "; ".join(table.title(c) for c in code.split("+"))) for code in codes]


def completed_by_padding(flat: str, found: Outcome) -> bool:
    """True when the ICD-10-CM reading needed placeholder X or a 7th character added."""
    return len(flat) < 7 and found.method in (out.CODE_HEADER, out.CODE_NORMALIZED) and \
        len(found.code.replace(".", "")) == 7


def either_reading(icd9: str, as_icd10: Outcome, legacy: Icd9Data, table: CodeTable) -> Outcome:
    """V70.0: routine examination in ICD-9-CM, a bus accident in ICD-10-CM once a 7th character
    is added. Nothing in the entry says which; the ICD-9-CM reading, the code as typed, first."""
    as_icd9 = resolve_icd9(icd9, legacy, table)
    choices = reading_choices(as_icd9, table)
    choices += [c for c in reading_choices(as_icd10, table) if c not in choices]
    return out.review(
        choices, out.ICD9_GEM,
        f"{icd9} is ICD-9-CM {legacy.name(icd9)}, and ICD-10-CM {as_icd10.code} only with "
        "placeholders or a 7th character added: choose the reading (a system column of icd9cm "
        "or icd10cm, or a date of service before 2015-10-01, decides it)")
