"""Money as integer minor units plus an ISO 4217 currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Currencies whose minor unit is not 1/100. Everything else has two decimals.
_EXPONENTS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def percent_of(amount_minor: int, basis_points: int) -> int:
    """`basis_points`/10000 of an amount, rounded half-up to a whole minor unit."""
    exact = Decimal(amount_minor) * Decimal(basis_points) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_to_basis_points(percent: Decimal | int | str) -> int:
    return int(
        (Decimal(str(percent)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int of minor units")
        if len(self.currency) != 3:
            raise ValueError(f"Not an ISO 4217 currency code: {self.currency!r}")

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"Cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def format(self) -> str:
        exponent = currency_exponent(self.currency)
        return f"{self.amount:,.{exponent}f} {self.currency}"

    def __str__(self) -> str:
        return self.format()
