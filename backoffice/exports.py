"""CSV and XLSX downloads of a `Table`, safe to open in a spreadsheet.

Text that a spreadsheet would read as a formula (starting with = + - @, or a tab or
carriage return before one) is written with a leading apostrophe: a buyer named
`=HYPERLINK(...)` stays text (OWASP "CSV injection"). Numbers stay numbers; money is
written in major units (12.50) beside its currency.
"""

from __future__ import annotations

import csv
import io

from django.http import Http404, HttpResponse
from openpyxl import Workbook

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


def _cell(column, row: dict):
    value = row.get(column.key)
    if value is None:
        return None
    if column.kind == MONEY and isinstance(value, int):
        return Money(value, row.get("currency") or "EUR").amount
    if column.kind == INT and isinstance(value, int):
        return value
    return safe_text(value)


def _records(table: Table):
    has_currency = any("currency" in row for row in [*table.rows, *table.totals])
    columns = list(table.columns)
    header = [str(column.label) for column in columns]
    if has_currency and not any(c.key == "currency" for c in columns):
        header.append("Currency")
    yield header
    for row in [*table.rows, *table.totals]:
        values = [_cell(column, row) for column in columns]
        if len(header) > len(columns):
            values.append(safe_text(row.get("currency", "")))
        yield values


def table_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for record in _records(table):
        writer.writerow(["" if value is None else value for value in record])
    # A byte-order mark: Excel then reads the file as UTF-8 (accents in names).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def table_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(table.title)[:31])
    for record in _records(table):
        # Decimals are written as numbers; strings stay strings (openpyxl only
        # makes a formula of a string starting with "=", escaped above).
        sheet.append(record)
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
