"""CSV and XLSX downloads of a `Table`, safe to open in a spreadsheet.

CSV has no types: a spreadsheet opening it reads text starting with = + - @ (or a
tab or carriage return before one) as a formula, so such text is written with a
leading apostrophe: a buyer named `=HYPERLINK(...)` stays text (OWASP "CSV
injection"). XLSX cells are typed: text is written as text, exactly as it is (a
phone number keeps its "+"); only a leading "=" would make openpyxl write a
formula, so such a cell is forced to text and marked quote-prefixed, which also
keeps it text when someone edits it in Excel. Numbers stay numbers; money is
written in major units (12.50) beside its currency.
"""

from __future__ import annotations

import csv
import io

from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from ticketing.lib.money import Money

from .tables import INT, MONEY, Table

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def safe_text(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _cell(column, row: dict, text):
    value = row.get(column.key)
    if value is None:
        return None
    if column.kind == MONEY and isinstance(value, int):
        return Money(value, row.get("currency") or "EUR").amount
    if column.kind == INT and isinstance(value, int):
        return value
    return text(value)


def _records(table: Table, text):
    """The header and the rows, strings passed through `text`."""
    has_currency = any("currency" in row for row in [*table.rows, *table.totals])
    columns = list(table.columns)
    header = [str(column.label) for column in columns]
    if has_currency and not any(c.key == "currency" for c in columns):
        header.append(_("Currency"))
    yield header
    for row in [*table.rows, *table.totals]:
        values = [_cell(column, row, text) for column in columns]
        if len(header) > len(columns):
            values.append(text(row.get("currency", "")))
        yield values


def table_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for record in _records(table, safe_text):
        writer.writerow(["" if value is None else value for value in record])
    # A byte-order mark: Excel then reads the file as UTF-8 (accents in names).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_value(sheet, value):
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # openpyxl took it for a formula
        cell.quotePrefix = True
        return cell
    return value


def table_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(table.title)[:31])
    for record in _records(table, lambda value: "" if value is None else str(value)):
        # Decimals are written as numbers, strings as text.
        sheet.append([_xlsx_value(sheet, value) for value in record])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_response(table: Table, fmt: str, name: str) -> HttpResponse:
    if fmt == "csv":
        body = table_csv(table)
    elif fmt == "xlsx":
        body = table_xlsx(table)
    else:
        raise Http404
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
