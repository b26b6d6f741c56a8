"""Money as integer minor units plus an ISO 4217 currency. Never a float."""

from __future__ import annotations

import functools
import re
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


# -- For people: amounts typed and read in currency units -------------------------


class AmountError(ValueError):
    """Text that is not an amount of the currency. `code` says why (forms translate
    it): invalid, grouping, no_decimals, too_many_decimals."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_amount(text: str, currency: str) -> int:
    """Minor units of an amount typed in currency units: "90.00", "90,00", "90",
    "1 500,50", "1,500.50", "€90.00" (EUR) -> 9000; "1500" (JPY) -> 1500.

    Both separators are accepted because organisers type what their keyboard and
    habit give. With both, the last one is the decimal mark. With one kind only, a
    single mark followed by exactly three digits groups thousands when the currency
    has fewer than three decimals ("1,500" EUR is 1500.00); otherwise it is the
    decimal mark. More decimals than the currency has is an error, never rounded.
    """
    exponent = currency_exponent(currency)
    cleaned = re.sub(r"[\s\u00a0\u202f'_]", "", text or "")
    cleaned = cleaned.strip(_SYMBOL_CHARS).strip()
    if not re.fullmatch(r"-?\d[\d.,]*", cleaned) or cleaned[-1] in ".,":
        raise AmountError("invalid", "Enter an amount such as 90.00.")
    negative = cleaned.startswith("-")
    digits = cleaned.lstrip("-")
    marks = {mark for mark in ".," if mark in digits}
    if len(marks) == 2:
        decimal_mark = max(".,", key=digits.rfind)
        integer, _, fraction = digits.rpartition(decimal_mark)
        group_mark = "," if decimal_mark == "." else "."
        if decimal_mark in integer:
            raise AmountError("invalid", "Enter an amount such as 90.00.")
        integer = _ungroup(integer, group_mark)
    elif marks:
        (mark,) = marks
        parts = digits.split(mark)
        groups_thousands = len(parts) > 2 or (len(parts[1]) == 3 and exponent < 3)
        if groups_thousands:
            integer, fraction = _ungroup(digits, mark), ""
        else:
            integer, fraction = parts
    else:
        integer, fraction = digits, ""
    if len(fraction) > exponent:
        if exponent == 0:
            raise AmountError("no_decimals", f"{currency} amounts have no decimals.")
        raise AmountError(
            "too_many_decimals", f"{currency} amounts have at most {exponent} decimals."
        )
    minor = int(integer or "0") * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
    return -minor if negative else minor


_SYMBOL_CHARS = "€$£¥₦₹₩₪₫₱₲₴₵₸₺₼₽¢ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _ungroup(integer: str, mark: str) -> str:
    head, *groups = integer.split(mark)
    if not head or len(head) > 3 or any(len(group) != 3 for group in groups):
        raise AmountError("grouping", "Enter an amount such as 1,500.00.")
    return head + "".join(groups)


def amount_text(minor: int, currency: str) -> str:
    """Minor units as typed back into a form: "90.00" (EUR), "1500" (JPY)."""
    exponent = currency_exponent(currency)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"


def money_display(minor: int | None, currency: str, language: str | None = None) -> str:
    """An amount as people read it in lists, in the active language's digits with
    the currency's symbol: "€90.00", "₦15,000.00", "¥1,500", "90,00 €" in French.
    Babel (CLDR) knows each language's pattern; the decimals are ours (see
    `_EXPONENTS`), and the symbol is the one used at home ("₦" for NGN) unless that
    is a bare "$", which would not tell dollars apart."""
    if minor is None or not currency:
        return ""
    from django.utils import translation

    currency = currency.upper()
    language = (language or translation.get_language() or "en").replace("-", "_")
    locale, pattern, own, home = _currency_format(language, currency)
    text = pattern.apply(
        Money(minor, currency).amount, locale, currency=currency, currency_digits=False
    )
    if home != own and home != "$" and own in text:
        text = text.replace(own, home, 1)
    return text


@functools.lru_cache(maxsize=256)
def _currency_format(language: str, currency: str):
    """Babel's locale, pattern and symbols for a language and currency, worked out
    once per process: parsing a locale name searches CLDR's list of every locale,
    and a changelist of 50 bookings paid for that 100 ms (issue 24)."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_currency_symbol, parse_pattern

    try:
        locale = Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    exponent = currency_exponent(currency)
    pattern = parse_pattern(locale.currency_formats["standard"].pattern)
    pattern.frac_prec = (exponent, exponent)
    own = get_currency_symbol(currency, locale)
    try:
        home = get_currency_symbol(currency, f"{locale.language}_{currency[:2]}")
    except (UnknownLocaleError, ValueError):
        home = own
    return locale, pattern, own, home
