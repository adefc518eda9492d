"""ICD-10-CM code forms: exact, normalized, headers, 7th characters, other releases, unknown codes."""

from __future__ import annotations

import pytest

from tests.resolver.helpers import FY2025_DATE, FY2026_DATE, alternatives, one
from worker.resolver import Resolver


def test_exact_code(resolver: Resolver) -> None:
    result = one(resolver, "E11.9")
    assert (result.status, result.code, result.method) == ("resolved", "E11.9", "code_exact")
    assert result.description == "Type 2 diabetes mellitus without complications"
    assert result.confidence == 1.0
    assert result.code_set == "FY2026"


@pytest.mark.parametrize("typed", ["e119", " E11.9 ", "E11 .9", "e11.9", "E119", "\tE11.9"])
def test_the_forms_people_type(resolver: Resolver, typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code, result.method) == ("resolved", "E11.9", "code_normalized")


def test_lower_case_placeholder(resolver: Resolver) -> None:
    result = one(resolver, "T81.44xA")
    assert (result.status, result.code, result.method) == ("resolved", "T81.44XA", "code_normalized")
    assert result.description == "Sepsis following a procedure, initial encounter"


def test_missing_placeholder_with_a_unique_completion(resolver: Resolver) -> None:
    result = one(resolver, "W010A")
    assert (result.status, result.code, result.method) == ("resolved", "W01.0XXA", "code_normalized")
    assert "placeholder" in result.message


def test_header_needs_review_with_billable_children_unspecified_first(resolver: Resolver) -> None:
    result = one(resolver, "E11")
    assert (result.status, result.method) == ("needs_review", "code_header")
    choices = alternatives(result)
    assert choices[0] == "E11.9"  # "without complications": the default
    assert result.code == "E11.9"
    assert 1 < len(choices) <= 5
    assert all(code.startswith("E11.") for code in choices)
    assert "header" in result.message


def test_missing_seventh_character_lists_the_completions(resolver: Resolver) -> None:
    result = one(resolver, "S72.001")
    assert (result.status, result.method) == ("needs_review", "code_header")
    assert alternatives(result) == ["S72.001A", "S72.001B", "S72.001C", "S72.001D", "S72.001E"]
    assert "7th character" in result.message


def test_g35_is_billable_in_fy2025(resolver: Resolver) -> None:
    result = one(resolver, "G35", dos=FY2025_DATE)
    assert (result.status, result.code, result.method) == ("resolved", "G35", "code_exact")
    assert result.code_set == "FY2025"


def test_g35_on_a_2026_date_needs_a_successor_unspecified_first(resolver: Resolver) -> None:
    result = one(resolver, "G35", dos=FY2026_DATE)
    assert (result.status, result.method, result.code_set) == (
        "needs_review", "code_other_release", "FY2026")
    assert alternatives(result)[0] == "G35.D"
    assert result.description == "Multiple sclerosis, unspecified"
    assert {"G35.A", "G35.B0", "G35.C0"} <= set(alternatives(result))
    assert "FY2025" in result.message


def test_a_code_new_in_fy2026_on_a_2025_date_points_back(resolver: Resolver) -> None:
    result = one(resolver, "G35.D", dos=FY2025_DATE)
    assert (result.status, result.method, result.code_set) == (
        "needs_review", "code_other_release", "FY2025")
    assert alternatives(result) == ["G35"]


def test_a_pinned_release_wins_over_the_date(resolver: Resolver) -> None:
    result = one(resolver, "G35", dos=FY2026_DATE, release="FY2025")
    assert (result.status, result.code, result.code_set) == ("resolved", "G35", "FY2025")


def test_well_formed_but_nonexistent_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "E11.99")
    assert (result.status, result.code) == ("no_match", "")
    assert "no loaded release" in result.message


def test_explicit_icd10_system_refuses_text(resolver: Resolver) -> None:
    result = one(resolver, "diabetes", system="icd10cm")
    assert result.status == "invalid_input"
    assert result.code_set == ""
