"""Free text as clinicians write it: negations, uncertain diagnoses, lists, guideline combinations.

Around the text cascade (worker.resolver.text): a negated entry ("denies chest pain") names no
diagnosis; an uncertain one ("r/o pneumonia") is not coded as confirmed in outpatient coding
(ICD-10-CM Official Guidelines IV.H), so a person decides; an entry listing several diagnoses
is coded part by part and joined with "+" in order, the weakest part deciding the status and
confidence; parts the guidelines code together (worker/data/combinations.csv) take their
combination code.
"""

from __future__ import annotations

import re

from worker.contract import NEEDS_REVIEW, RESOLVED
from worker.resolver import combinations, split
from worker.resolver import outcome as out
from worker.resolver.normalize import text_key
from worker.resolver.outcome import Outcome
from worker.resolver.qualifiers import of_entry
from worker.resolver.text import TextMatcher

# A whole-entry match at least this sure is kept over cutting the entry into parts.
WHOLE_KEEPS_AT = 0.9
ONE_DIAGNOSIS_AT = 0.8
MAX_PARTS = 8  # a longer list is a pasted problem list, not one claim line's diagnosis
_SEPARATORS = frozenset(";,/+&|\n")


def memo_key(term: str, key: str) -> str:
    """The text memo's key: the text key, and the list separators the entry holds (the key
    drops punctuation, and "HTN; CKD" is two diagnoses where "HTN CKD" may be one)."""
    marks = "".join(sorted(_SEPARATORS.intersection(term)))
    return f"{key}\x00{marks}" if marks else key


def resolve(term: str, key: str, matcher: TextMatcher) -> Outcome:
    """The outcome of one distinct free-text entry."""
    exact = matcher.exact(key)
    if exact is not None:  # a term of the release as it stands ("Obs & eval of NB for suspected ...")
        return exact
    whole = matcher.whole_abbreviation(key)
    if whole is not None:
        return whole
    stated = of_entry(key)
    if stated.negated:
        return out.no_match(f'the entry negates the diagnosis ("{stated.negated}"): '
                            "nothing to code")
    if stated.uncertain:
        return _uncertain(term, key, stated.uncertain, matcher)
    return _listed(term, key, matcher)


def _uncertain(term: str, key: str, words: str, matcher: TextMatcher) -> Outcome:
    why = (f'uncertain diagnosis ("{words}"): outpatient coding codes the signs and symptoms '
           "instead (ICD-10-CM Official Guidelines IV.H); choose the code of what is confirmed")
    rest = re.sub(rf"\b{re.escape(words)}\b", " ", key).split()
    if not rest:
        return out.no_match(why)
    rest_key = " ".join(rest)
    if words in ("versus", "vs", "v s"):
        parts = [p for p in re.split(r"\b(?:versus|vs|v s)\b", key) if p.strip()]
        found = [_listed(p.strip(), text_key(p), matcher) for p in parts]
    else:
        found = [_listed(rest_key, rest_key, matcher)]
    codes = [c for f in found for c in (f.code, *f.alternatives.split("|")) if c and "+" not in c]
    codes = list(dict.fromkeys(codes))
    if not codes:
        return out.no_match(why)
    best = found[0]
    title = matcher.table.title(codes[0])
    return Outcome(NEEDS_REVIEW, codes[0], title, best.method or out.FUZZY,
                   min(best.confidence, out.CONFIDENCE_REVIEW),
                   "|".join(codes[:out.MAX_ALTERNATIVES]), why)


def _listed(term: str, key: str, matcher: TextMatcher) -> Outcome:
    whole = matcher.resolve(key)
    if whole.status == RESOLVED and whole.method != out.FUZZY:
        return whole
    pieces, hard = split.parts(term)
    if len(pieces) == 1:
        return _with(term, matcher, whole)
    if whole.status == RESOLVED and whole.confidence >= WHOLE_KEEPS_AT \
            or not hard and whole.confidence >= ONE_DIAGNOSIS_AT:
        # Without a semicolon, a whole entry one code nearly explains is one diagnosis
        # ("sprain of ligaments of hand and wrist"): its parts are not searched.
        return whole
    if len(pieces) > MAX_PARTS:
        return out.review([(c, matcher.table.title(c)) for c in
                           ([whole.code] if whole.code else [])], whole.method or out.FUZZY,
                          f"the entry lists {len(pieces)} diagnoses, more than {MAX_PARTS} "
                          "coded from one entry: split it", min(whole.confidence,
                                                                out.CONFIDENCE_REVIEW))
    if len(pieces) > 1:
        found = [_with(p, matcher) for p in pieces]
        # Commas, slashes and "and" also sit inside one diagnosis ("open bite, foot, rt"):
        # there every part must name its code surely. A semicolon list is several diagnoses
        # whatever its parts score: an unsure part makes the whole a review.
        if all(f.code for f in found) and (hard or all(_sure(f) for f in found)):
            return _joined(found, matcher, combine=True) or whole
    return whole


def _sure(found: Outcome) -> bool:
    return found.status == RESOLVED and (found.method != out.FUZZY
                                         or found.confidence >= WHOLE_KEEPS_AT)


def _with(term: str, matcher: TextMatcher, whole: Outcome | None = None) -> Outcome:
    """One diagnosis, or two joined by "with" that the guidelines combine ("HTN with CKD 3")."""
    if whole is None:
        whole = matcher.resolve(text_key(term))
        if whole.status == RESOLVED and whole.method != out.FUZZY:
            return whole
    if not any(combinations.related(c) for c in (whole.code, *whole.alternatives.split("|"))):
        return whole  # no combination could come of it
    pieces = split.with_parts(term)
    if len(pieces) < 2:
        return whole
    found = [matcher.resolve(text_key(p)) for p in pieces]
    if not all(f.code and "+" not in f.code for f in found):
        return whole
    joined = _joined(found, matcher, combine=True, only_combined=True)
    return joined or whole


def _joined(found: list[Outcome], matcher: TextMatcher, *, combine: bool,
            only_combined: bool = False) -> Outcome | None:
    codes = [c for f in found for c in f.code.split("+")]
    sections: list[str] = []
    if combine:
        codes, sections = combinations.combine(codes)
    if only_combined and not sections:
        return None
    codes = list(dict.fromkeys(codes))
    table = matcher.table
    weakest = min(found, key=lambda f: (f.status == RESOLVED, f.confidence))
    message = "" if only_combined else f"{len(found)} diagnoses coded in order"
    if sections:
        rule = "combination code per " + ", ".join(sections)
        message = f"{message}; {rule}" if message else rule
    code = "+".join(codes)
    description = "; ".join(table.title(c) for c in codes)
    if all(f.status == RESOLVED for f in found):
        return Outcome(RESOLVED, code, description, weakest.method, weakest.confidence, "",
                       message)
    unsure = next(i for i, f in enumerate(found) if f.status != RESOLVED)
    return Outcome(NEEDS_REVIEW, code, description, weakest.method,
                   min(weakest.confidence, out.CONFIDENCE_REVIEW), found[unsure].alternatives,
                   f"{message}; part {unsure + 1} needs review: "
                   f"{found[unsure].message or 'choose a code'}")
