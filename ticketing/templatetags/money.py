"""`{{ value|money:currency }}`: minor units shown with the currency's decimals.

    {{ 4500|money:"EUR" }}       -> 45.00 EUR
    {{ 4500|money:"JPY" }}       -> 4,500 JPY
    {{ ticket_type.price|money }} (a Money) -> 45.00 EUR

Digits follow the active language (`1,500.00 EUR` in English, `1 500,00 EUR` in
French); the decimals are always the currency's.
"""

from __future__ import annotations

from django import template
from django.utils import formats

from ticketing.lib.money import Money, currency_exponent

register = template.Library()


@register.filter(name="money")
def money(value: object, currency: str | None = None) -> str:
    """Format `value` (minor units, or a Money) in `currency`; "" when it cannot."""
    if isinstance(value, Money):
        return _localized(value)
    if value is None or value == "" or not currency:
        return ""
    try:
        minor = int(value)
    except (TypeError, ValueError):
        return ""
    if not isinstance(value, int | str) and value != minor:
        return ""  # minor units are whole numbers: never round a fraction away
    try:
        return _localized(Money(minor, str(currency).upper()))
    except (TypeError, ValueError):
        return ""


def _localized(amount: Money) -> str:
    digits = formats.number_format(
        amount.amount,
        decimal_pos=currency_exponent(amount.currency),
        use_l10n=True,
        force_grouping=True,
    )
    return f"{digits} {amount.currency}"
