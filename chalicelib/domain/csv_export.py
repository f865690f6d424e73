"""CSV for history exports (RFC 4180) with spreadsheet formula injection defused (OWASP CSV injection)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# A text cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | None


def csv_cell(value: Cell) -> str:
    """A cell's text: numbers as written (an amount of -500 stays a number), text led by a formula character
    prefixed with an apostrophe so a spreadsheet shows it instead of running it."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The whole document: a header line, then one line per row, quoted where needed, CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
