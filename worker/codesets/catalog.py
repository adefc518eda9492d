"""Read-side queries over loaded releases: list them, pick the one in force, show a code."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.codesets.model import dot_icd9, dot_icd10
from worker.errors import NoReleaseError
from worker.models import Code, CodeSetRelease, GemBackward, GemMapping, Icd9Title, Term
from worker.settings import get_settings, mask_url


def database_in_use() -> str:
    """The database this process uses, for messages: an embedded one with its full path and
    where that comes from (`./.dxcoder` depends on the directory the command runs in)."""
    settings = get_settings()
    url = settings.effective_database_url
    if not settings.database_url:
        path = url.split("///", 1)[-1]
        return (f"{path} (the embedded database in DXCODER_DATA_DIR={settings.data_dir}, "
                "relative to the current directory)")
    return mask_url(url)


def no_release_message() -> str:
    return (f"no ICD-10-CM release is loaded in {database_in_use()}: run `dxcoder codeset load` "
            "with these settings, or point DXCODER_DATA_DIR / DXCODER_DATABASE_URL at the "
            "database that has them")


def match_label(labels: Iterable[str], wanted: str) -> str | None:
    """The label `wanted` names: itself, another case of it (`fy2026`), or the FY label of a
    fiscal year (`2026`), as people say it."""
    labels = list(labels)
    if wanted in labels:
        return wanted
    key = wanted.strip().upper()
    key = f"FY{key}" if key.isdigit() and len(key) == 4 else key
    return next((label for label in labels if label.upper() == key), None)


def releases(session: Session) -> list[CodeSetRelease]:
    return list(session.scalars(select(CodeSetRelease).order_by(CodeSetRelease.effective_from)))


def release_by_label(session: Session, label: str) -> CodeSetRelease:
    """The release labelled `label`; a fiscal year (`2026`) or another case (`fy2026`) names
    an FY label as people say it."""
    release = session.scalar(select(CodeSetRelease).where(CodeSetRelease.label == label))
    if release is None:
        by_label = {r.label: r for r in releases(session)}
        found = match_label(by_label, label)
        release = by_label[found] if found else None
    if release is None:
        loaded = releases(session)
        if not loaded:
            raise NoReleaseError(no_release_message())
        known = ", ".join(r.label for r in loaded)
        raise NoReleaseError(f"no code-set release {label!r} is loaded (loaded: {known})")
    return release


def release_in_force(all_releases: list[CodeSetRelease], on: dt.date | None
                     ) -> CodeSetRelease:
    """The release whose effective_from is the latest on or before `on`; no date = the newest.

    A date before every loaded release gets the earliest one (the caller says so in a message).
    """
    if not all_releases:
        raise NoReleaseError(no_release_message())
    ordered = sorted(all_releases, key=lambda r: r.effective_from)
    if on is None:
        return ordered[-1]
    chosen = ordered[0]
    for release in ordered:
        if release.effective_from <= on:
            chosen = release
    return chosen


@dataclasses.dataclass
class CodeDetail:
    release: str
    code: str
    title: str
    billable: bool
    parent: str | None
    parent_title: str | None
    children: list[tuple[str, str, bool]]
    inclusion_terms: list[str]
    short_title: str | None
    synonyms: list[str]
    # CMS's backward GEM: (ICD-9-CM code, its title, flags as CMS writes them), in file order.
    icd9_sources: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Icd9Detail:
    """An ICD-9-CM diagnosis code: CMS's v32 titles and its forward GEM rows."""

    code: str
    title: str
    short_title: str
    targets: list[tuple[str | None, str]]  # (ICD-10-CM target or None for no map, flags)


def _flags(*flags: int) -> str:
    """CMS's five flag digits (approximate, no map, combination, scenario, choice list): 10111."""
    return "".join(str(int(flag)) for flag in flags)


def show_icd9(session: Session, code: str) -> Icd9Detail | None:
    """None when CODE is no ICD-9-CM diagnosis code of the loaded titles and GEM."""
    dotted = dot_icd9(code)
    titles = session.get(Icd9Title, dotted)
    rows = session.execute(
        select(GemMapping.icd10_code, GemMapping.approximate, GemMapping.no_map,
               GemMapping.combination, GemMapping.scenario, GemMapping.choice_list)
        .where(GemMapping.icd9_code == dotted).order_by(GemMapping.id)).all()
    if titles is None and not rows:
        return None
    return Icd9Detail(dotted, titles.title if titles else "", titles.short_title if titles else "",
                      [(target, _flags(*flags)) for target, *flags in rows])


def show_code(session: Session, code: str, label: str | None = None) -> CodeDetail:
    release = release_by_label(session, label) if label else release_in_force(releases(session), None)
    dotted = dot_icd10(code)
    row = session.get(Code, (release.id, dotted))
    if row is None:
        raise NoReleaseError(f"{dotted} is not a code of {release.label}")
    parent = session.get(Code, (release.id, row.parent)) if row.parent else None
    children = session.execute(
        select(Code.code, Code.title, Code.billable)
        .where(Code.release_id == release.id, Code.parent == dotted).order_by(Code.code)
    ).all()
    terms = session.execute(
        select(Term.kind, Term.text).where(Term.release_id == release.id, Term.code == dotted)
        .order_by(Term.id)
    ).all()
    sources = session.execute(
        select(GemBackward.icd9_code, Icd9Title.title, GemBackward.approximate, GemBackward.no_map,
               GemBackward.combination, GemBackward.scenario, GemBackward.choice_list)
        .outerjoin(Icd9Title, Icd9Title.code == GemBackward.icd9_code)
        .where(GemBackward.icd10_code == dotted).order_by(GemBackward.id)).all()
    return CodeDetail(
        icd9_sources=[(icd9 or "NoDx", title or "", _flags(*flags))
                      for icd9, title, *flags in sources],
        release=release.label, code=row.code, title=row.title, billable=row.billable,
        parent=row.parent, parent_title=parent.title if parent else None,
        children=[(c, t, b) for c, t, b in children],
        inclusion_terms=[text for kind, text in terms if kind == "inclusion"],
        short_title=next((text for kind, text in terms if kind == "short_title"), None),
        synonyms=[text for kind, text in terms if kind == "synonym"],
    )
