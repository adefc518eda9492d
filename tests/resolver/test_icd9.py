"""ICD-9-CM through CMS's 2018 GEMs: every flag class as CMS defines it, headers, titles typed as
text, and codes that read as both systems."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.resolver.helpers import alternatives, one
from worker.resolver import Resolver

OLD = dt.date(2014, 6, 1)  # a date of service before ICD-10-CM


def test_approximate_single_target_resolves_with_lower_confidence(resolver: Resolver) -> None:
    result = one(resolver, "401.9")
    assert (result.status, result.code, result.method) == ("resolved", "I10", "icd9_gem")
    assert result.confidence < 0.95
    assert "approximate" in result.message
    assert "401.9 (Unspecified essential hypertension)" in result.message  # the ICD-9-CM title


@pytest.mark.parametrize("typed", ["V45.81", "v4581"])
def test_exact_single_target(resolver: Resolver, typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code, result.method) == ("resolved", "Z95.1", "icd9_gem")
    assert result.confidence == 0.95
    assert result.message == ""


@pytest.mark.parametrize(("typed", "code"), [
    ("250.00", "E11.9"),  # CMS maps it to E11.9 alone (icdmap added E13.9)
    ("V17.81", "Z82.62"), ("255.42", "E27.49"), ("200.72", "C83.32"), ("347.01", "G47.411"),
])
def test_codes_the_old_table_got_wrong_or_lacked(resolver: Resolver, typed: str, code: str) -> None:
    result = one(resolver, typed, system="icd9cm")
    assert (result.status, result.code, result.method) == ("resolved", code, "icd9_gem")


def test_explicit_system_and_old_date_mean_icd9(resolver: Resolver) -> None:
    assert one(resolver, "4019", system="icd9cm").code == "I10"
    old = one(resolver, "4019", dos=OLD)
    assert (old.status, old.code, old.method) == ("resolved", "I10", "icd9_gem")
    assert old.code_set == "FY2025"  # the earliest loaded release serves the old date


def test_icd9_e_code_dotted_after_four_characters(resolver: Resolver) -> None:
    result = one(resolver, "E814.6")
    assert (result.status, result.code, result.method) == ("resolved", "V13.9XXA", "icd9_gem")


def test_several_targets_without_combination_need_review(resolver: Resolver) -> None:
    result = one(resolver, "005.89", system="icd9cm")  # CMS: A05.4 or A05.8
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result) == ["A05.4", "A05.8"]
    assert "2 alternative ICD-10-CM codes" in result.message


def test_combination_gives_every_required_code(resolver: Resolver) -> None:
    result = one(resolver, "073.0")  # ornithosis with pneumonia: 10111 A70, 10112 J17
    assert (result.status, result.code, result.method) == ("resolved", "A70+J17", "icd9_gem")
    assert "combination" in result.message


def test_combination_of_one_scenario_in_choice_list_order(resolver: Resolver) -> None:
    result = one(resolver, "250.22", system="icd9cm")  # 10111 E11.00, 10112 E11.65
    assert (result.status, result.code) == ("resolved", "E11.00+E11.65")


def test_combination_with_a_choice_list_of_several_codes_needs_review(resolver: Resolver) -> None:
    result = one(resolver, "249.11", system="icd9cm")  # list 1: E08.10 or E09.10; list 2: E08.65
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result) == ["E08.10+E08.65", "E09.10+E08.65"]
    assert "choice" in result.message


def test_several_scenarios_need_review(resolver: Resolver) -> None:
    result = one(resolver, "754.35", system="icd9cm")  # two scenarios of two codes each
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result) == ["Q65.01+Q65.32", "Q65.02+Q65.31"]
    assert "2 scenario(s)" in result.message


def test_a_plain_target_beside_combinations_is_one_more_choice(resolver: Resolver) -> None:
    result = one(resolver, "249.51", system="icd9cm")  # E08.39 alone, or E08.311 + E08.65 ...
    assert result.status == "needs_review"
    assert alternatives(result)[:2] == ["E08.39", "E09.39"]
    assert "E08.311+E08.65" in alternatives(result)


def test_no_map_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "764.09")
    assert (result.status, result.code, result.method) == ("no_match", "", "icd9_gem")
    assert "no map" in result.message and "the GEMs have no ICD-10-CM equivalent" in result.message


def test_unknown_icd9_code_is_no_match(resolver: Resolver) -> None:
    result = one(resolver, "999.99", system="icd9cm")
    assert result.status == "no_match"
    assert "not an ICD-9-CM diagnosis code" in result.message


def test_an_icd9_header_offers_what_its_codes_map_to(resolver: Resolver) -> None:
    # 521.2x all map to K03.1: the header means it too. 250.x map to many codes: a choice.
    same = one(resolver, "521.2", system="icd9cm")
    assert (same.status, same.code) == ("resolved", "K03.1")
    assert "ICD-9-CM category" in same.message
    many = one(resolver, "250", system="icd9cm")
    assert (many.status, many.code) == ("needs_review", "E11.9")
    assert "40 codes" in many.message


def test_explicit_icd9_system_refuses_other_shapes(resolver: Resolver) -> None:
    assert one(resolver, "E11.9", system="icd9cm").status == "invalid_input"


def test_a_target_split_in_fy2026_is_followed_to_its_billable_codes(resolver: Resolver) -> None:
    assert one(resolver, "340", system="icd9cm", dos=dt.date(2025, 1, 10)).code == "G35"
    result = one(resolver, "340", system="icd9cm", dos=dt.date(2026, 1, 10))
    assert (result.status, result.method) == ("needs_review", "icd9_gem")
    assert alternatives(result)[0] == "G35.D"
    assert "not a billable code of FY2026" in result.message


# -- ICD-9-CM titles typed as text ----------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "Diabetes mellitus without mention of complication, type II or unspecified type, "
    "not stated as uncontrolled",
    "DIABETES MELLITUS WITHOUT MENTION OF COMPLICATION, TYPE II OR UNSPECIFIED TYPE, NOT STATED "
    "AS UNCONTROLLED",
    "DMII wo cmp nt st uncntr",  # CMS's short title
])
def test_a_legacy_title_reaches_icd10_through_its_codes_gem(resolver: Resolver,
                                                            typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code, result.method) == ("resolved", "E11.9", "icd9_title")
    assert "250.00" in result.message


def test_a_legacy_title_of_a_choice_is_a_choice(resolver: Resolver) -> None:
    result = one(resolver, "Other bacterial food poisoning")  # 005.89: A05.4 or A05.8
    assert (result.status, result.method) == ("needs_review", "icd9_title")
    assert alternatives(result) == ["A05.4", "A05.8"]
    assert "005.89" in result.message


def test_the_same_words_as_an_icd10_term_mean_that_term(resolver: Resolver) -> None:
    # "Opioid abuse, in remission" is 305.53's title and F11.11's; the GEM of 305.53 says F11.10.
    now = one(resolver, "Opioid abuse, in remission")
    assert (now.status, now.code, now.method) == ("resolved", "F11.11", "title_exact")
    before = one(resolver, "Opioid abuse, in remission", dos=OLD)
    assert (before.code, before.method) == ("F11.10", "icd9_title")


# -- entries that read as both systems -----------------------------------------------------


@pytest.mark.parametrize("typed", ["V70.0", "v700"])
def test_icd9_code_that_is_icd10_only_with_a_seventh_character_is_ambiguous(
        resolver: Resolver, typed: str) -> None:
    result = one(resolver, typed)
    assert (result.status, result.code) == ("needs_review", "Z00.00")  # routine examination
    assert "V70.0XXA" in alternatives(result)  # bus driver injured: the other reading
    assert "ICD-9-CM V70.0 (Routine general medical examination" in result.message


def test_system_or_an_old_date_decides_the_reading(resolver: Resolver) -> None:
    assert (one(resolver, "V70.0", system="icd9cm").status,
            one(resolver, "V70.0", system="icd9cm").code) == ("resolved", "Z00.00")
    assert one(resolver, "V70.0", dos=OLD).code == "Z00.00"
    as_icd10 = one(resolver, "V70.0", system="icd10cm")
    assert (as_icd10.status, as_icd10.method) == ("needs_review", "code_header")
    assert "Z00.00" not in alternatives(as_icd10)


def test_a_code_typed_with_its_placeholders_is_icd10(resolver: Resolver) -> None:
    result = one(resolver, "v70.0xxa")
    assert (result.status, result.code) == ("resolved", "V70.0XXA")
