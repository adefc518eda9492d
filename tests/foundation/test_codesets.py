"""The packaged releases and GEMs, loaded for real into PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from worker import db
from worker.codesets import catalog
from worker.models import Code, CodeSetRelease, GemMapping


def _code(label: str, code: str) -> Code | None:
    with db.session_scope() as session:
        release = catalog.release_by_label(session, label)
        return session.get(Code, (release.id, code))


def test_both_releases_are_loaded_with_cms_counts(any_db_url: str) -> None:
    with db.session_scope() as session:
        rows = {r.label: r for r in session.scalars(select(CodeSetRelease))}
    assert set(rows) == {"FY2025", "FY2026"}
    # CMS publishes 74,260 billable codes for FY2025; the April 2026 list has 74,719.
    assert rows["FY2025"].billable_count == 74_260
    assert rows["FY2026"].billable_count == 74_719
    assert rows["FY2026"].effective_from == dt.date(2025, 10, 1)


def test_billable_flags_and_headers(any_db_url: str) -> None:
    e119, e11 = _code("FY2026", "E11.9"), _code("FY2026", "E11")
    assert e119 is not None and e119.billable and e119.parent == "E11"
    assert e119.title == "Type 2 diabetes mellitus without complications"
    assert e11 is not None and not e11.billable and e11.level == 1


def test_seventh_characters_are_expanded_with_placeholder_x(any_db_url: str) -> None:
    s72 = _code("FY2026", "S72.001A")
    assert s72 is not None and s72.billable and s72.parent == "S72.001"
    assert s72.title.endswith("initial encounter for closed fracture")
    w01 = _code("FY2026", "W01.0XXA")
    assert w01 is not None and w01.billable and w01.parent == "W01.0"
    # T81.4 has children, so it is a header and gets no 7th character of its own.
    assert _code("FY2026", "T81.4XXA") is None
    assert not _code("FY2026", "T81.4").billable  # type: ignore[union-attr]
    # The tabular's prose exception under S06: no D or S after 6th character 7 or 8.
    assert _code("FY2026", "S06.1X7A") is not None
    assert _code("FY2026", "S06.1X7D") is None


def test_g35_billable_in_fy2025_and_expanded_in_fy2026(any_db_url: str) -> None:
    assert _code("FY2025", "G35").billable  # type: ignore[union-attr]
    assert not _code("FY2026", "G35").billable  # type: ignore[union-attr]
    with db.session_scope() as session:
        detail = catalog.show_code(session, "G35", "FY2026")
    assert [c for c, _, _ in detail.children] == ["G35.A", "G35.B", "G35.C", "G35.D"]
    assert ("G35.D", "Multiple sclerosis, unspecified", True) in detail.children


def test_inclusion_and_short_titles_are_terms(any_db_url: str) -> None:
    with db.session_scope() as session:
        i639 = catalog.show_code(session, "I63.9", "FY2026")
        a0472 = catalog.show_code(session, "A04.72", "FY2025")
    assert "Stroke NOS" in i639.inclusion_terms
    assert a0472.short_title == "Enterocolitis d/t Clostridium difficile, not spcf as recur"
    assert a0472.title == "Enterocolitis due to Clostridium difficile, not specified as recurrent"


def test_gems_keep_their_flags(any_db_url: str) -> None:
    with db.session_scope() as session:
        def targets(icd9: str) -> list[tuple[str | None, bool, bool]]:
            rows = session.scalars(select(GemMapping).where(GemMapping.icd9_code == icd9))
            return sorted((r.icd10_code, r.approximate, r.combination) for r in rows)

        assert targets("401.9") == [("I10", True, False)]
        assert targets("V45.81") == [("Z95.1", False, False)]
        assert targets("250.00") == [("E11.9", True, False)]  # CMS's file: E11.9 alone
        combination = session.scalars(
            select(GemMapping).where(GemMapping.icd9_code == "073.0")).all()
        assert {(r.icd10_code, r.scenario, r.choice_list) for r in combination} == {
            ("A70", 1, 1), ("J17", 1, 2)}
        no_map = session.scalars(select(GemMapping).where(GemMapping.icd9_code == "764.09")).one()
        assert no_map.no_map and no_map.icd10_code is None


def test_release_in_force_follows_the_date_of_service(any_db_url: str) -> None:
    with db.session_scope() as session:
        loaded = catalog.releases(session)
        assert catalog.release_in_force(loaded, dt.date(2025, 3, 1)).label == "FY2025"
        assert catalog.release_in_force(loaded, dt.date(2026, 1, 15)).label == "FY2026"
        assert catalog.release_in_force(loaded, None).label == "FY2026"
        assert catalog.release_in_force(loaded, dt.date(2019, 1, 1)).label == "FY2025"
