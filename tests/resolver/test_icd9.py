"""ICD-9-CM through the GEMs: flags kept, targets followed to billable codes."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.resolver.helpers import alternatives, one
from worker.resolver import Resolver


def test_approximate_single_target_resolves_with_lower_confidence(resolver: Resolver) -> None:
    result = one(resolver, "401.9")
    assert (result.status, result.code, result.method) == ("resolved", "I10", "icd9_gem")
    assert result.confidence < 0.95
    assert "approximate" in result.message


@pytest.mark.parametrize("typed", ["V45.81", "v4581"])
def test_exact_single_target(resolver: Resolver, typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code, result.method) == ("resolved", "Z95.1", "icd9_gem")
    assert result.confidence == 0.95
    assert result.message == ""


def test_explicit_system_and_old_date_mean_icd9(resolver: Resolver) -> None:
    assert one(resolver, "4019", system="icd9cm").code == "I10"
    old = one(resolver, "4019", dos=dt.date(2014, 6, 1))
    assert (old.status, old.code, old.method) == ("resolved", "I10", "icd9_gem")
    assert old.code_set == "FY2025"  # the earliest loaded release serves the old date


def test_icd9_e_code_dotted_after_four_characters(resolver: Resolver) -> None:
    result = one(resolver, "E814.6")
    assert result.method == "icd9_gem"
    assert result.status in ("resolved", "needs_review")


def test_alternative_targets_need_review(resolver: Resolver) -> None:
    result = one(resolver, "250.00")  # icdmap lists E11.9 and E13.9
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result) == ["E11.9", "E13.9"]


def test_combination_gives_every_required_code(resolver: Resolver) -> None:
    result = one(resolver, "073.0")  # ornithosis with pneumonia
    assert (result.status, result.code, result.method) == ("resolved", "A70+J17", "icd9_gem")
    assert "combination" in result.message


def test_combination_with_a_choice_list_needs_review(resolver: Resolver) -> None:
    result = one(resolver, "250.22")  # slot 1: E11.00 or E11.01, slot 2: E11.65
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result) == ["E11.00+E11.65", "E11.01+E11.65"]
    assert "choice" in result.message


def test_no_map_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "764.09")
    assert (result.status, result.code, result.method) == ("no_match", "", "icd9_gem")
    assert "no map" in result.message


def test_unknown_icd9_code_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "999.99", system="icd9cm")
    assert result.status == "no_match"


def test_explicit_icd9_system_refuses_other_shapes(resolver: Resolver) -> None:
    assert one(resolver, "E11.9", system="icd9cm").status == "invalid_input"


def test_a_target_split_in_fy2026_is_followed_to_its_billable_codes(resolver: Resolver) -> None:
    assert one(resolver, "340", system="icd9cm", dos=dt.date(2025, 1, 10)).code == "G35"
    result = one(resolver, "340", system="icd9cm", dos=dt.date(2026, 1, 10))
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result)[0] == "G35.D"
    assert "not a billable code of FY2026" in result.message
