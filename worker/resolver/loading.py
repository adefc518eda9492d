"""Set-based reads of what the resolver needs: releases, codes, terms, GEMs, overrides, a freshness stamp."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import String, bindparam, cast, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from worker import db
from worker.models import Code, CodeSetRelease, DataVersion, GemMapping, Icd9Title, Override, Term

ABBREVIATIONS_FILE = Path(__file__).resolve().parent.parent / "data" / "abbreviations.csv"


@dataclasses.dataclass(frozen=True, slots=True)
class ReleaseInfo:
    id: int
    label: str
    effective_from: dt.date
    checksum: str


@dataclasses.dataclass(frozen=True, slots=True)
class GemTarget:
    """One row of the ICD-9-CM -> ICD-10-CM GEM with its flags."""

    icd10_code: str | None
    approximate: bool
    no_map: bool
    combination: bool
    scenario: int
    choice_list: int


def releases(session: Session) -> list[ReleaseInfo]:
    rows = session.execute(
        select(CodeSetRelease.id, CodeSetRelease.label, CodeSetRelease.effective_from,
               CodeSetRelease.checksum).order_by(CodeSetRelease.effective_from, CodeSetRelease.label)
    ).all()
    return [ReleaseInfo(*row) for row in rows]


def stamp(session: Session) -> tuple[tuple[str, str, str], ...]:
    """What, if it changes, makes the loaded index stale: one round trip, a few small rows.

    Release checksums, the data versions (GEMs, synonyms) and the override table's count,
    highest id and newest creation time (an override replaced in place gets a new id).
    """
    text = String(64)
    overrides = select(literal("override", text), cast(func.count(Override.id), text),
                       cast(func.max(Override.id), text), cast(func.max(Override.created_at), text))
    versions = select(literal("data:", text) + DataVersion.name, DataVersion.checksum,
                      cast(DataVersion.rows, text), literal("", text))
    release_rows = select(literal("release:", text) + CodeSetRelease.label,
                          CodeSetRelease.checksum, cast(CodeSetRelease.id, text),
                          cast(CodeSetRelease.effective_from, text))
    rows = session.execute(union_all(overrides, versions, release_rows)).all()
    return tuple(sorted((str(a), str(b), f"{c}|{d}") for a, b, c, d in rows))


_CODES = (select(Code.code, Code.title, Code.billable, Code.parent)
          .where(Code.release_id == bindparam("release_id")).order_by(Code.code))


def codes(session: Session, release_id: int) -> list[tuple[str, str, bool, str | None]]:
    """(code, title, billable, parent) of every code of the release, in code order.

    On the DBAPI cursor (SQLite's billable comes back as 0/1): ~98,000 rows load before a
    worker can start, and SQLAlchemy's rows took two thirds of that query's 0.36 s.
    """
    return [(code, title, bool(billable), parent) for code, title, billable, parent
            in db.fetch_tuples(session, _CODES, {"release_id": release_id})]


def terms(session: Session, release_id: int) -> Iterator[tuple[str, str, str]]:
    """(code, kind, text) of the release's terms, plus the inclusion terms and short titles
    other releases give codes that have the same title here (FY2026's XML has no short titles,
    FY2025's file no inclusion terms; an unchanged code keeps both).

    Streamed in batches (the index is built while reading, not after a copy of every row),
    so iterate inside the session. A term both releases carry may come twice; the index
    keeps one. No ORDER BY: the index orders what it keeps itself.
    """
    own = select(Term.code, Term.kind, Term.text).where(Term.release_id == release_id)
    other = aliased(Code)
    here = aliased(Code)
    borrowed = (
        select(Term.code, Term.kind, Term.text)
        .join(other, (other.release_id == Term.release_id) & (other.code == Term.code))
        .join(here, (here.release_id == release_id) & (here.code == Term.code)
              & (here.title == other.title))
        .where(Term.release_id != release_id, Term.kind.in_(("inclusion", "short_title")))
    )
    for statement in (own, borrowed):
        yield from session.execute(statement.execution_options(yield_per=10_000))


def gems(session: Session) -> dict[str, tuple[GemTarget, ...]]:
    rows = session.execute(
        select(GemMapping.icd9_code, GemMapping.icd10_code, GemMapping.approximate,
               GemMapping.no_map, GemMapping.combination, GemMapping.scenario,
               GemMapping.choice_list)
        .order_by(GemMapping.icd9_code, GemMapping.scenario, GemMapping.choice_list,
                  GemMapping.icd10_code)
    ).all()
    out: dict[str, list[GemTarget]] = {}
    for icd9, icd10, approximate, no_map, combination, scenario, choice_list in rows:
        out.setdefault(icd9, []).append(GemTarget(
            icd10, bool(approximate), bool(no_map), bool(combination), int(scenario or 0),
            int(choice_list or 0)))
    return {code: tuple(targets) for code, targets in out.items()}


def icd9_titles(session: Session) -> dict[str, tuple[str, str]]:
    """Dotted ICD-9-CM code -> (long title, short title), CMS's v32 descriptions."""
    return {code: (title, short) for code, title, short in session.execute(
        select(Icd9Title.code, Icd9Title.title, Icd9Title.short_title))}


def overrides(session: Session) -> dict[str, str]:
    """Normalized term -> code of every approved override that holds on every date of service
    (those with a window: windowed_overrides)."""
    return {key: code for key, code in session.execute(
        select(Override.term_key, Override.code)
        .where(Override.dos_from.is_(None), Override.dos_to.is_(None))
        .order_by(Override.term_key))}


def windowed_overrides(session: Session
                       ) -> dict[str, tuple[tuple[dt.date | None, dt.date | None, str], ...]]:
    """Normalized term -> (first day, last day, code) of the approved overrides that hold only
    for some dates of service (a reviewer's decision kept with a window, worker.review)."""
    found: dict[str, tuple[tuple[dt.date | None, dt.date | None, str], ...]] = {}
    for key, start, end, code in session.execute(
            select(Override.term_key, Override.dos_from, Override.dos_to, Override.code)
            .where((Override.dos_from.is_not(None)) | (Override.dos_to.is_not(None)))):
        found[key] = (*found.get(key, ()), (start, end, code))
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Abbreviation:
    """The meanings of one abbreviation (several: ambiguous) and whether it may only stand alone."""

    meanings: tuple[str, ...]
    whole_entry_only: bool  # also an English word ("all", "add"): expand only the whole entry


def abbreviations(path: Path = ABBREVIATIONS_FILE) -> dict[str, Abbreviation]:
    """Abbreviation -> its meanings in file order, from worker/data/abbreviations.csv.

    The file's README: one row per meaning of an ambiguous abbreviation; a note saying "whole
    entry" marks one that is also an ordinary word.
    """
    if not path.is_file():
        return {}
    meanings: dict[str, list[str]] = {}
    whole: set[str] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            short = (row.get("abbreviation") or "").strip()
            expansion = (row.get("expansion") or "").strip()
            if not short or not expansion:
                continue
            found = meanings.setdefault(short, [])
            if expansion not in found:
                found.append(expansion)
            if "whole entry" in (row.get("note") or "").lower():
                whole.add(short)
    return {short: Abbreviation(tuple(m), short in whole) for short, m in meanings.items()}


def file_stamp(path: Path = ABBREVIATIONS_FILE) -> tuple[float, int]:
    try:
        info = path.stat()
    except OSError:
        return (0.0, 0)
    return (info.st_mtime, info.st_size)
