"""Free text: the cascade of exact stages, abbreviations and fuzzy matching, category defaults."""

from __future__ import annotations

import pytest

from tests.resolver.helpers import alternatives, one
from worker.resolver import Resolver


@pytest.mark.parametrize(("term", "code"), [
    ("Type 2 diabetes", "E11.9"),
    ("Stroke", "I63.9"),
    ("CHF", "I50.9"),
])
def test_category_names_resolve_to_their_default_code(resolver: Resolver, term: str,
                                                      code: str) -> None:
    result = one(resolver, term)
    assert (result.status, result.code) == ("resolved", code)


def test_title_exact(resolver: Resolver) -> None:
    result = one(resolver, "Essential (primary) hypertension")
    assert (result.status, result.code, result.method) == ("resolved", "I10", "title_exact")


@pytest.mark.parametrize("term", ["Stroke NOS", "stroke", "Cardiac, heart or myocardial failure NOS"])
def test_inclusion_term(resolver: Resolver, term: str) -> None:
    # "stroke" is also a curated synonym; inclusion terms come first in the cascade.
    result = one(resolver, term)
    assert (result.status, result.method) == ("resolved", "inclusion_term")
    assert result.code == ("I50.9" if "failure" in term else "I63.9")


def test_cms_short_title_of_fy2025_works_in_fy2026(resolver: Resolver) -> None:
    result = one(resolver, "Fx unsp part of nk of r femr, subs for clos fx w routn heal")
    assert (result.status, result.code, result.method) == ("resolved", "S72.001D", "short_title")
    assert result.code_set == "FY2026"


def test_curated_synonym(resolver: Resolver) -> None:
    result = one(resolver, "COPD")
    assert (result.status, result.code, result.method) == ("resolved", "J44.9", "synonym")


def test_abbreviation_expanded(resolver: Resolver) -> None:
    result = one(resolver, "AV block")  # in abbreviations.csv, not in synonyms.csv
    assert (result.status, result.method) == ("resolved", "abbreviation")
    assert result.code.startswith("I44.")
    assert "abbreviation" in result.message


def test_ambiguous_abbreviation_needs_review_with_each_meaning(resolver: Resolver) -> None:
    result = one(resolver, "MS")  # multiple sclerosis or mitral stenosis
    assert (result.status, result.method) == ("needs_review", "abbreviation")
    assert set(alternatives(result)) == {"G35.D", "I05.0"}
    assert "ambiguous" in result.message


def test_arf_is_not_assumed_to_be_renal_failure(resolver: Resolver) -> None:
    # Acute renal failure, acute respiratory failure and acute rheumatic fever: a coder queries.
    result = one(resolver, "ARF")
    assert (result.status, result.method) == ("needs_review", "abbreviation")
    found = alternatives(result)
    assert len(found) == 3 and {"N17.9", "J96.00"} <= set(found)


@pytest.mark.parametrize("typed", [
    "Essental hypertension",  # a letter dropped
    "hypertension essential",  # word order
    "essential hypertension.",  # punctuation
    "ESSENTIAL   HYPERTENSION",  # case and spacing
])
def test_essential_hypertension_survives_typing(resolver: Resolver, typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code) == ("resolved", "I10")


def test_typo_goes_through_fuzzy(resolver: Resolver) -> None:
    result = one(resolver, "Essental hypertension")
    assert result.method == "fuzzy"
    assert 0.72 <= result.confidence < 1.0


def test_missing_words_and_typos(resolver: Resolver) -> None:
    result = one(resolver, "diabetis type 2")
    assert (result.status, result.code, result.method) == ("resolved", "E11.9", "fuzzy")


def test_a_category_with_no_default_needs_review(resolver: Resolver) -> None:
    result = one(resolver, "atrial fibrillation and flutter")  # I48: AF or flutter, which?
    assert result.status == "needs_review"
    assert {"I48.91", "I48.92"} <= set(alternatives(result))
    assert len(alternatives(result)) <= 5


def test_nothing_plausible_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "banana smoothie")
    assert (result.status, result.code, result.alternatives) == ("no_match", "", "")
    assert result.message


def test_explicit_text_system_reads_codes_as_text(resolver: Resolver) -> None:
    assert one(resolver, "stroke", system="text").code == "I63.9"
    assert one(resolver, "E11.9", system="text").status != "resolved"


def test_resolved_alternatives_are_billable_codes_best_first(resolver: Resolver) -> None:
    result = one(resolver, "Essental hypertension")
    for code in alternatives(result):
        assert code != result.code
        assert one(resolver, code).status == "resolved"  # billable in the release
