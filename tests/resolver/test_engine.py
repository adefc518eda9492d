"""The batch engine: input order, both backends alike, one bad line isolated, overrides live."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.clitools import run_dxcoder
from tests.resolver.helpers import FY2025_DATE, FY2026_DATE, one
from worker import db
from worker.codesets import catalog
from worker.contract import Entry
from worker.errors import NoReleaseError
from worker.models import DataVersion
from worker.resolver import Resolver, engine, get_resolver, reset_resolver

MIXED = [
    ("E11.9", "auto", None), ("e119", "auto", FY2025_DATE), ("T81.44xA", "auto", None),
    ("W010A", "auto", None), ("E11", "auto", None), ("S72.001", "auto", None),
    ("G35", "auto", FY2025_DATE), ("G35", "auto", FY2026_DATE), ("401.9", "auto", None),
    ("V45.81", "auto", None), ("250.22", "icd9cm", None), ("073.0", "auto", None),
    ("764.09", "icd9cm", None), ("4019", "auto", dt.date(2014, 2, 1)),
    ("Type 2 diabetes", "auto", None), ("Stroke", "auto", None), ("CHF", "auto", None),
    ("Essental hypertension", "auto", None), ("MS", "auto", None), ("AV block", "text", None),
    ("atrial fibrillation and flutter", "auto", None), ("banana smoothie", "auto", None),
    ("", "auto", None), ("'; DROP TABLE code; --", "auto", None), ("\U0001f600", "auto", None),
    ("E11.99", "auto", None), ("diabetis type 2", "auto", FY2025_DATE),
]


def mixed_batch() -> list[Entry]:
    return [Entry(line_no=n, term=term, id=f"id-{n}", system=system, date_of_service=dos)
            for n, (term, system, dos) in enumerate(MIXED * 3, start=1)]


def test_one_result_per_entry_in_input_order(resolver: Resolver) -> None:
    entries = mixed_batch()
    results = resolver.resolve(entries)
    assert [(r.line_no, r.id, r.input) for r in results] == [(e.line_no, e.id, e.term) for e in entries]
    # The same entry three times gives the same answer three times.
    third = len(MIXED)
    assert results[:third] == [dataclasses.replace(r, line_no=r.line_no - third, id=f"id-{r.line_no - third}")
                               for r in results[third:2 * third]]


def test_postgresql_and_sqlite_give_the_same_results(pg_resolver: Resolver,
                                                     sqlite_resolver: Resolver) -> None:
    entries = mixed_batch()
    on_pg = [r.as_dict() for r in pg_resolver.resolve(entries)]
    on_sqlite = [r.as_dict() for r in sqlite_resolver.resolve(entries)]
    assert on_pg == on_sqlite
    statuses = {r["status"] for r in on_pg}
    assert statuses == {"resolved", "needs_review", "no_match", "invalid_input"}


def test_every_method_appears_in_the_mixed_batch(resolver: Resolver) -> None:
    methods = {r.method for r in resolver.resolve(mixed_batch()) if r.method}
    assert {"code_exact", "code_normalized", "code_header", "code_other_release", "icd9_gem",
            "synonym", "inclusion_term", "abbreviation", "fuzzy"} <= methods


def test_the_release_in_force_follows_catalog(resolver: Resolver, any_db_url: str) -> None:
    with db.session_scope() as session:
        loaded = catalog.releases(session)
    for day in (None, dt.date(2015, 1, 1), dt.date(2024, 9, 30), dt.date(2024, 10, 1),
                dt.date(2025, 9, 30), dt.date(2025, 10, 1), dt.date(2030, 1, 1)):
        expected = catalog.release_in_force(loaded, day).label
        assert one(resolver, "I10", dos=day).code_set == expected, day


def test_dates_before_every_release_say_so(resolver: Resolver) -> None:
    early = one(resolver, "I10", dos=dt.date(2020, 5, 1))
    assert (early.status, early.code_set) == ("resolved", "FY2025")
    assert "before every loaded release" in early.message
    pre_icd10 = one(resolver, "I10", dos=dt.date(2014, 5, 1))
    assert "before ICD-10-CM" in pre_icd10.message


def test_an_unknown_pinned_release_is_refused(resolver: Resolver) -> None:
    with pytest.raises(NoReleaseError, match="FY1999"):
        resolver.resolve([Entry(line_no=1, term="E11.9")], release="FY1999")


def test_one_failing_line_does_not_sink_the_batch(resolver: Resolver,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    original = engine.Resolver._decide

    def faulty(self: Resolver, term: str, *args: Any) -> Any:
        if term == "boom":
            raise RuntimeError("secret patient detail")
        return original(self, term, *args)

    monkeypatch.setattr(engine.Resolver, "_decide", faulty)
    results = resolver.resolve([Entry(1, "E11.9"), Entry(2, "boom"), Entry(3, "I10")])
    assert [r.status for r in results] == ["resolved", "error", "resolved"]
    assert results[1].message == "internal error while resolving this line (RuntimeError)"
    [record] = [r for r in caplog.records if r.getMessage() == "resolver.entry_failed"]
    assert record.error == "RuntimeError"  # type: ignore[attr-defined]
    assert "secret" not in caplog.text and record.exc_info is None  # no PHI in the logs
    monkeypatch.setattr(engine.Resolver, "_decide", original)
    # An error is not remembered: the next call tries again.
    assert resolver.resolve([Entry(2, "boom")])[0].status != "error"


def test_repeated_terms_are_resolved_once_and_remembered(resolver: Resolver) -> None:
    entries = [Entry(line_no=n, term="hypertension benign essential") for n in range(50)]
    before = resolver.cache_hits
    resolver.resolve(entries)
    resolver.resolve(entries)
    assert resolver.cache_hits - before >= 1  # the second call found it in the memo


def test_index_loads_once_and_is_kept_while_nothing_changes(any_db_url: str) -> None:
    resolver = get_resolver()
    resolver.resolve([Entry(1, "Type 2 diabetes")])
    index = resolver._indexes["FY2026"]
    resolver.resolve([Entry(1, "pneumonia"), Entry(2, "E11.9")])
    assert resolver._indexes["FY2026"] is index
    assert get_resolver() is resolver


def test_a_synonyms_reload_is_noticed(any_db_url: str) -> None:
    resolver = get_resolver()
    resolver.resolve([Entry(1, "Type 2 diabetes")])
    index = resolver._indexes["FY2026"]
    with db.session_scope() as session:
        session.execute(update(DataVersion).where(DataVersion.name == "synonyms")
                        .values(checksum="changed"))
    resolver.resolve([Entry(1, "Type 2 diabetes")])
    assert resolver._indexes["FY2026"] is not index


def test_override_beats_the_algorithm_and_applies_without_restart(any_db_url: str,
                                                                  tmp_path: Path) -> None:
    resolver = get_resolver()
    before = one(resolver, "Type 2 diabetes")
    assert (before.code, before.method) == ("E11.9", "synonym")

    added = run_dxcoder("override", "add", "type 2 DIABETES", "e11.65", "--note", "ticket 7",
                        database_url=any_db_url, data_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "E11.65" in added.stdout

    after = one(resolver, "  Type 2 diabetes ")  # same process, next call
    assert (after.status, after.code, after.method) == ("resolved", "E11.65", "override")
    listed = run_dxcoder("override", "list", database_url=any_db_url, data_dir=tmp_path)
    assert "E11.65" in listed.stdout and "ticket 7" in listed.stdout
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")  # when it was added, as the JSON has it
    assert listed.stdout.startswith(f"{today} "), listed.stdout

    removed = run_dxcoder("override", "remove", "Type 2 Diabetes", database_url=any_db_url,
                          data_dir=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert one(resolver, "Type 2 diabetes").method == "synonym"


def test_reset_resolver_forgets_the_process_resolver(any_db_url: str) -> None:
    first = get_resolver()
    reset_resolver()
    assert get_resolver() is not first
