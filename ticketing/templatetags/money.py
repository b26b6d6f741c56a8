"""`{{ value|money:currency }}`: minor units shown with the currency's decimals.

    {{ 4500|money:"EUR" }}       -> 45.00 EUR
    {{ 4500|money:"JPY" }}       -> 4,500 JPY
    {{ ticket_type.price|money }} (a Money) -> 45.00 EUR

The text is `Money.format()`, so pages, emails and the API show amounts alike.
"""

from __future__ import annotations

from django import template

from ticketing.lib.money import Money

register = template.Library()


@register.filter(name="money")
def money(value: object, currency: str | None = None) -> str:
    """Format `value` (minor units, or a Money) in `currency`; "" when it cannot."""
    if isinstance(value, Money):
        return value.format()
    if value is None or value == "" or not currency:
        return ""
    try:
        minor = int(value)
    except (TypeError, ValueError):
        return ""
    if not isinstance(value, int | str) and value != minor:
        return ""  # minor units are whole numbers: never round a fraction away
    try:
        return Money(minor, str(currency).upper()).format()
    except (TypeError, ValueError):
        return ""
