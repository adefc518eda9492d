"""Review sheets: the queue written as CSV (tooling) or XLSX (coders, a drop-down per row), read back.

A sheet names its job on every row (`job`), so a sheet imported against the wrong job's lines
is refused rather than applied to whatever lines share its entries.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

from worker.csvcells import FORMULA_START, safe_row, spreadsheet_safe
from worker.review.queue import QueueEntry, example_lines

COLUMNS = ("job", "entry", "lines", "example_line_nos", "status", "message", "candidates",
           "decision", "note")
REQUIRED = ("job", "entry", "decision")
NO_MATCH_CHOICE = "no_match"
CANDIDATE_SEPARATOR = " | "
SHEET_TITLE = "review"
CHOICES_TITLE = "choices"


@dataclasses.dataclass(frozen=True, slots=True)
class SheetRow:
    """One row of a sheet as read back: where it is (the header is row 1) and what it says."""

    row: int
    job: str
    entry: str
    decision: str
    note: str


class SheetError(Exception):
    """A sheet that cannot be read at all (a bad header, not a CSV/XLSX); the message names
    the file and row."""


def cells(job_id: str, entry: QueueEntry) -> list[object]:
    return [job_id, entry.entry, len(entry.lines), example_lines(entry), entry.status,
            entry.message, CANDIDATE_SEPARATOR.join(c.label() for c in entry.candidates), "", ""]


def write_csv(path: Path, job_id: str, entries: Sequence[QueueEntry]) -> None:
    from worker.pipeline.export import write_atomically

    def write(fh: io.TextIOBase) -> None:
        fh.write(safe_row(COLUMNS))
        for entry in entries:
            fh.write(safe_row(cells(job_id, entry)))

    write_atomically(path, write)  # type: ignore[arg-type]


def write_xlsx(path: Path, job_id: str, entries: Sequence[QueueEntry]) -> None:
    """The sheet coders work in: the `decision` cell of each row offers that row's candidates
    (and no_match) in a drop-down, kept on a hidden sheet because Excel caps an inline list at
    255 characters; any other code may still be typed."""
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    choices = book.create_sheet(CHOICES_TITLE)
    choices.sheet_state = "hidden"
    sheet.append(list(COLUMNS))
    decision_col = "ABCDEFGHI"[COLUMNS.index("decision")]
    for n, entry in enumerate(entries, start=2):
        sheet.append([spreadsheet_safe(v) for v in cells(job_id, entry)])
        options = [c.label() for c in entry.candidates] + [NO_MATCH_CHOICE]
        for col, option in enumerate(options, start=1):
            choices.cell(row=n, column=col, value=str(spreadsheet_safe(option)))
        last = _column_letter(len(options))
        validation = DataValidation(type="list", formula1=f"{CHOICES_TITLE}!$A${n}:${last}${n}",
                                    allow_blank=True, showErrorMessage=False)
        validation.add(f"{decision_col}{n}")
        sheet.add_data_validation(validation)
    for letter, width in zip("ABCDEFGHI", (34, 40, 8, 18, 14, 40, 60, 40, 30), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "B2"
    from worker.pipeline.export import write_atomically

    write_atomically(path, book.save, binary=True)  # claims data: 0600 whatever the umask


def _column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _unguarded(value: object) -> str:
    """A cell as typed: the apostrophe a writer put before a formula character is dropped."""
    text = "" if value is None else str(value)
    if text.startswith("'") and text[1:].lstrip(" \n").startswith(FORMULA_START):
        return text[1:]
    return text.strip()


def read(path: Path) -> list[SheetRow]:
    """The rows of a CSV or XLSX review sheet; SheetError when its header is not one."""
    if not path.is_file():
        raise SheetError(f"{path}: no such file")
    with path.open("rb") as fh:
        xlsx = fh.read(4) == b"PK\x03\x04"
    rows: Sequence[Sequence[object]] = _xlsx_rows(path) if xlsx else _csv_rows(path)
    if not rows:
        raise SheetError(f"{path}: row 1: the sheet is empty; expected the header "
                         f"{','.join(COLUMNS)}")
    header = [_unguarded(cell).lower() for cell in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise SheetError(f"{path}: row 1: the header lacks {', '.join(missing)}; a review sheet "
                         f"starts {','.join(COLUMNS)} (`dxcoder review export` writes one)")
    at = {name: header.index(name) for name in COLUMNS if name in header}
    found = []
    for n, row in enumerate(rows[1:], start=2):
        values = [_unguarded(cell) for cell in row]
        if not any(values):
            continue

        def get(name: str, values: list[str] = values) -> str:
            i = at.get(name)
            return values[i] if i is not None and i < len(values) else ""

        found.append(SheetRow(n, get("job"), get("entry"), get("decision"), get("note")))
    return found


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return list(csv.reader(fh))
    except UnicodeDecodeError:
        raise SheetError(f"{path}: not a UTF-8 CSV or an XLSX file") from None


def _xlsx_rows(path: Path) -> list[list[object]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise SheetError(f"{path}: not a readable XLSX file ({type(exc).__name__})") from None
    try:
        sheet = book[SHEET_TITLE] if SHEET_TITLE in book.sheetnames else book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
