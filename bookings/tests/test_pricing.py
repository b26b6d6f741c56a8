import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookings.exceptions import BasketInvalid
from bookings.pricing import PriceRule, price_basket, price_line
from events.models import Event, TicketType

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def _ticket_type(pk=1, event_id=1, **fields) -> TicketType:
    values = {
        "name": "Regular",
        "price_minor": 4500,
        "min_per_order": 1,
        "max_per_order": 50,
        "is_active": True,
    } | fields
    return TicketType(pk=pk, event_id=event_id, **values)


def _event(currency="EUR") -> Event:
    return Event(
        pk=1, currency=currency, timezone="Europe/Paris", max_tickets_per_order=100
    )


def test_regular_price():
    quote = price_basket(event=_event(), lines=[(_ticket_type(), 2)], at=NOW)
    assert (quote.subtotal_minor, quote.discount_minor, quote.total_minor) == (
        9000,
        0,
        9000,
    )
    assert quote.lines[0].rule == PriceRule.REGULAR
    assert quote.currency == "EUR"


def test_early_bird_until_its_deadline_then_regular():
    ticket_type = _ticket_type(
        early_bird_price_minor=3500,
        early_bird_deadline_at=NOW + dt.timedelta(seconds=1),
    )
    before = price_line(ticket_type, 1, NOW)
    at_deadline = price_line(ticket_type, 1, NOW + dt.timedelta(seconds=1))
    assert (before.unit_price_minor, before.rule) == (3500, PriceRule.EARLY_BIRD)
    assert (at_deadline.unit_price_minor, at_deadline.rule) == (4500, PriceRule.REGULAR)


def test_early_bird_deadline_is_local_midnight_across_a_dst_change():
    # Sales close "23:59 local" on the night Paris moves from CEST to CET.
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    deadline = dt.datetime(2026, 10, 25, 23, 59, tzinfo=paris)
    ticket_type = _ticket_type(
        early_bird_price_minor=3000, early_bird_deadline_at=deadline
    )
    assert deadline.utcoffset() == dt.timedelta(hours=1)  # CET after the change
    just_before = dt.datetime(2026, 10, 25, 22, 58, tzinfo=dt.UTC)
    just_after = dt.datetime(2026, 10, 25, 22, 59, tzinfo=dt.UTC)
    assert price_line(ticket_type, 1, just_before).rule == PriceRule.EARLY_BIRD
    assert price_line(ticket_type, 1, just_after).rule == PriceRule.REGULAR


def test_group_discount_from_the_minimum_rounded_half_up():
    ticket_type = _ticket_type(
        price_minor=3333, group_min_quantity=3, group_discount_percent=Decimal("12.5")
    )
    below = price_line(ticket_type, 2, NOW)
    at_min = price_line(ticket_type, 3, NOW)
    assert below.discount_minor == 0
    # 9999 x 12.5% = 1249.875 -> 1250 (half-up in minor units)
    assert (at_min.subtotal_minor, at_min.discount_minor, at_min.total_minor) == (
        9999,
        1250,
        8749,
    )
    assert at_min.rule == PriceRule.GROUP
    exact_half = price_line(
        _ticket_type(
            price_minor=5, group_min_quantity=2, group_discount_percent=Decimal(10)
        ),
        5,
        NOW,
    )
    assert exact_half.discount_minor == 3  # 25 x 10% = 2.5 -> 3


def test_early_bird_wins_over_group_discount():
    ticket_type = _ticket_type(
        early_bird_price_minor=3500,
        early_bird_deadline_at=NOW + dt.timedelta(days=1),
        group_min_quantity=2,
        group_discount_percent=Decimal(20),
    )
    line = price_line(ticket_type, 4, NOW)
    assert (line.unit_price_minor, line.discount_minor, line.rule) == (
        3500,
        0,
        PriceRule.EARLY_BIRD,
    )


def test_zero_decimal_currency_stays_in_whole_units():
    ticket_type = _ticket_type(
        price_minor=1999, group_min_quantity=2, group_discount_percent=Decimal(15)
    )
    quote = price_basket(event=_event("JPY"), lines=[(ticket_type, 2)], at=NOW)
    assert quote.currency == "JPY"
    assert quote.discount_minor == 600  # 3998 x 15% = 599.7 -> 600 yen
    assert quote.total_minor == 3398


def test_per_order_bounds_and_sales_windows_are_validation_errors():
    cases = [
        (_ticket_type(min_per_order=2), 1, "lines.0.quantity", "At least 2"),
        (_ticket_type(max_per_order=4), 5, "lines.0.quantity", "At most 4"),
        (_ticket_type(sales_end_at=NOW), 1, "lines.0.quantity", "ended"),
        (_ticket_type(is_active=False), 1, "lines.0.ticket_type", "not available"),
        (_ticket_type(event_id=2), 1, "lines.0.ticket_type", "another event"),
    ]
    for ticket_type, quantity, field, text in cases:
        with pytest.raises(BasketInvalid) as error:
            price_basket(event=_event(), lines=[(ticket_type, quantity)], at=NOW)
        assert text in error.value.fields[field][0]


ticket_types = st.builds(
    lambda price, min_qty, percent: _ticket_type(
        price_minor=price,
        group_min_quantity=min_qty,
        group_discount_percent=None if min_qty is None else percent,
    ),
    price=st.integers(min_value=0, max_value=10**9),
    min_qty=st.none() | st.integers(min_value=2, max_value=20),
    percent=st.decimals(min_value=0, max_value=100, places=2),
)


@settings(max_examples=300, deadline=None)
@given(ticket_type=ticket_types, quantity=st.integers(min_value=1, max_value=49))
def test_totals_are_never_negative_and_add_up(ticket_type, quantity):
    quote = price_basket(event=_event(), lines=[(ticket_type, quantity)], at=NOW)
    assert quote.total_minor >= 0
    assert quote.total_minor == quote.subtotal_minor - quote.discount_minor
    assert 0 <= quote.discount_minor <= quote.subtotal_minor
    assert all(
        isinstance(value, int)
        for value in (quote.total_minor, quote.subtotal_minor, quote.discount_minor)
    )


@settings(max_examples=300, deadline=None)
@given(ticket_type=ticket_types, quantity=st.integers(min_value=1, max_value=48))
def test_more_tickets_never_cost_less_unless_the_group_discount_starts(
    ticket_type, quantity
):
    fewer = price_line(ticket_type, quantity, NOW)
    more = price_line(ticket_type, quantity + 1, NOW)
    if fewer.rule == more.rule:
        assert more.total_minor >= fewer.total_minor
    else:
        assert more.rule == PriceRule.GROUP
