"""The one CSV cell encoder behind every CSV dxcoder writes: results, claims, reports and COPY text.

Two rules every CSV file must keep, whoever writes it:
- a CR or LF inside a cell is always quoted. The csv module quotes only the characters of its
  line terminator, so a writer ending lines with "\\n" leaves a lone CR bare, and a reader (or a
  spreadsheet) then sees a new row there: "one row per input line" breaks, and the cell after
  the CR starts a row of its own, out of reach of the formula guard below;
- `spreadsheet_safe` cells in files people open: a cell that starts (after spaces) with a
  formula character is run as a formula by spreadsheet programs (CSV injection), so it gets a
  leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import IO, Any

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets skip these before looking for a formula character (" =1+1" is a formula in some).
_LEADING = " \n"


def spreadsheet_safe(value: Any) -> Any:
    """The value with a leading apostrophe if a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.lstrip(_LEADING).startswith(FORMULA_START):
        return "'" + value
    return value


def safe_cells(cells: Sequence[Any]) -> list[Any]:
    """spreadsheet_safe of every cell, inlined: it runs for each cell of a million-line export."""
    return ["'" + cell if cell.__class__ is str and cell.lstrip(_LEADING).startswith(FORMULA_START)
            else cell for cell in cells]


def cells_text(cells: Sequence[Any], *, quote_strings: bool = False) -> str:
    """The cells as they are written inside a longer row: comma-joined, no line end, CR and LF
    always quoted. quote_strings: every string quoted and numbers bare (COPY's CSV, where an
    empty quoted string is not NULL); otherwise quoted only where needed.

    The writer ends its line with CRLF, which makes it quote both characters wherever they
    occur, and the line end is cut. Written with one more, empty, cell (its comma cut too) so
    that a single empty cell comes out empty rather than as the csv module's lone `""`.
    """
    buffer = io.StringIO()
    if quote_strings:
        csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n").writerow(cells)
        return buffer.getvalue()[:-2]
    csv.writer(buffer, lineterminator="\r\n").writerow([*cells, ""])
    return buffer.getvalue()[:-3]


def copy_cells(values: Sequence[Any]) -> str:
    """Values as one line of COPY's CSV, without its end, written as bulk.copy_rows writes them:
    strings quoted, numbers bare. For values without None (copy_rows makes None a NULL)."""
    return cells_text(values, quote_strings=True)


def safe_row(cells: Sequence[Any]) -> str:
    """One line of a CSV file people open: safe cells, CR and LF quoted, ending in LF."""
    return cells_text(safe_cells(cells)) + "\n"


class SafeWriter:
    """A csv.writer's writerow for files people open: every row, the header too, is safe_row."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def writerow(self, cells: Sequence[Any]) -> None:
        self.out.write(safe_row(cells))
