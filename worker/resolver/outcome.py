"""The resolver's answer for one distinct term, before it is copied into a Result per entry."""

from __future__ import annotations

import dataclasses

from worker import contract
from worker.contract import ERROR, INVALID_INPUT, NEEDS_REVIEW, NO_MATCH, RESOLVED

MAX_ALTERNATIVES = 5

# Methods: which stage decided.
OVERRIDE = "override"
CODE_EXACT = "code_exact"
CODE_NORMALIZED = "code_normalized"
CODE_HEADER = "code_header"
CODE_OTHER_RELEASE = "code_other_release"
ICD9_GEM = "icd9_gem"
ICD9_TITLE = "icd9_title"  # an ICD-9-CM title typed as text, then its code's GEM
TITLE_EXACT = "title_exact"
INCLUSION_TERM = "inclusion_term"
SHORT_TITLE = "short_title"
SYNONYM = "synonym"
ABBREVIATION = "abbreviation"
FUZZY = "fuzzy"
# Not the resolver's: a person's decision in the review queue (worker.review); listed here so
# every method a result carries is in one place.
REVIEW = contract.REVIEW

# Term kinds in the database -> the method that reports a match on them.
KIND_METHOD = {
    "title": TITLE_EXACT,
    "inclusion": INCLUSION_TERM,
    "short_title": SHORT_TITLE,
    "synonym": SYNONYM,
}

# Confidence of the rule-based stages. Free text computes its own (see worker.resolver.scoring).
CONFIDENCE_EXACT = 1.0
CONFIDENCE_NORMALIZED = 0.99
CONFIDENCE_PLACEHOLDER = 0.97
CONFIDENCE_GEM_EXACT = 0.95
CONFIDENCE_GEM_APPROXIMATE = 0.85
CONFIDENCE_REVIEW = 0.5


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """Status, code and explanation for one distinct (term, system, release) triple."""

    status: str
    code: str = ""
    description: str = ""
    method: str = ""
    confidence: float = 0.0
    alternatives: str = ""
    message: str = ""


def resolved(code: str, title: str, method: str, confidence: float, message: str = "",
             alternatives: tuple[str, ...] = ()) -> Outcome:
    others = "|".join(a for a in alternatives if a != code)
    return Outcome(RESOLVED, code, title, method, round(confidence, 3),
                   "|".join(others.split("|")[:MAX_ALTERNATIVES]) if others else "", message)


def review(choices: list[tuple[str, str]], method: str, message: str,
           confidence: float = CONFIDENCE_REVIEW) -> Outcome:
    """needs_review: `code` holds the best suggestion, `alternatives` the choices best first."""
    if not choices:
        return no_match(message, method)
    best_code, best_title = choices[0]
    alternatives = "|".join(code for code, _ in choices[:MAX_ALTERNATIVES])
    return Outcome(NEEDS_REVIEW, best_code, best_title, method, round(confidence, 3),
                   alternatives, message)


def no_match(message: str, method: str = "") -> Outcome:
    return Outcome(NO_MATCH, method=method, message=message)


def invalid(message: str) -> Outcome:
    return Outcome(INVALID_INPUT, message=message)


def internal_error(exc: BaseException) -> Outcome:
    return Outcome(ERROR, message=f"internal error while resolving this line ({type(exc).__name__})")
