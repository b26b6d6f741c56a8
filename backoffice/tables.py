"""A report or list as plain data: columns, rows, a totals row per currency. Pages
render it, and the CSV and XLSX exports write it, from the same object."""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT, INT, MONEY = "text", "int", "money"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT  # MONEY cells are minor units in the row's "currency"


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[dict]
    totals: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals_by(self, label_key: str, label: str) -> None:
        """A totals row per currency: every INT and MONEY column summed."""
        by_currency: dict[str, dict] = {}
        for row in self.rows:
            currency = row.get("currency", "")
            total = by_currency.setdefault(
                currency, {label_key: label, "currency": currency}
            )
            for column in self.columns:
                if column.kind in (INT, MONEY) and row.get(column.key) is not None:
                    total[column.key] = total.get(column.key, 0) + row[column.key]
        self.totals = [by_currency[key] for key in sorted(by_currency)]
