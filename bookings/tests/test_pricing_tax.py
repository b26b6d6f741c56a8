"""Tax in the one pricing function: inclusive and exclusive prices, several rates,
exempt, zero- and three-decimal currencies, rounding once per line.

The reference below is written from the rule in `bookings/pricing.py`'s docstring,
in `Decimal` with its own rounding, without calling the code under test.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookings.pricing import price_basket
from events.models import Event, Organiser, TaxRate, TicketType

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)

GST_AU = TaxRate(pk=1, name="GST", percent=Decimal("10"), account_code="OUTPUT")
VAT_FR = TaxRate(pk=2, name="TVA", percent=Decimal("20"), account_code="OUTPUT2")
VAT_FR_REDUCED = TaxRate(pk=3, name="TVA réduite", percent=Decimal("5.5"))
EXEMPT = TaxRate(
    pk=4, name="Exempt", percent=Decimal("0"), is_exempt=True, account_code="EXEMPT"
)
RATES = [GST_AU, VAT_FR, VAT_FR_REDUCED, EXEMPT, None]


def _event(currency="EUR", mode=Organiser.PriceMode.INCLUSIVE) -> Event:
    organiser = Organiser(pk=1, name="Org", price_mode=mode)
    return Event(
        pk=1,
        organiser=organiser,
        currency=currency,
        timezone="Europe/Paris",
        max_tickets_per_order=1000,
    )


def _ticket_type(pk, price_minor, rate, **fields) -> TicketType:
    ticket_type = TicketType(
        pk=pk,
        event_id=1,
        name=f"Type {pk}",
        price_minor=price_minor,
        min_per_order=1,
        max_per_order=100,
        is_active=True,
        **fields,
    )
    ticket_type.tax_rate = rate
    return ticket_type


def _reference(amount: int, rate: TaxRate | None, inclusive: bool):
    """(net, tax, gross) of one line, by hand."""
    if rate is None or rate.is_exempt or rate.percent == 0:
        return amount, 0, amount
    fraction = Decimal(rate.percent) / Decimal(100)
    if inclusive:
        exact_tax = Decimal(amount) - Decimal(amount) / (1 + fraction)
        # The net is rounded, so tax absorbs the remainder: net + tax = gross.
        net = (Decimal(amount) - exact_tax).quantize(Decimal(1), ROUND_HALF_UP)
        return int(net), amount - int(net), amount
    tax = (Decimal(amount) * fraction).quantize(Decimal(1), ROUND_HALF_UP)
    return amount, int(tax), amount + int(tax)


def test_inclusive_gst_line():
    quote = price_basket(
        event=_event("AUD"), lines=[(_ticket_type(1, 5500, GST_AU), 2)], at=NOW
    )
    line = quote.lines[0]
    # 110.00 AUD including 10 % GST is 100.00 net and 10.00 GST.
    assert (line.net_minor, line.tax_minor, line.total_minor) == (10000, 1000, 11000)
    assert (quote.net_minor, quote.tax_minor, quote.total_minor) == (
        10000,
        1000,
        11000,
    )
    assert (line.tax_name, line.tax_percent, line.tax_code) == (
        "GST",
        Decimal("10"),
        "OUTPUT",
    )


def test_exclusive_vat_adds_to_the_price():
    quote = price_basket(
        event=_event("EUR", Organiser.PriceMode.EXCLUSIVE),
        lines=[(_ticket_type(1, 4500, VAT_FR), 2)],
        at=NOW,
    )
    assert (quote.subtotal_minor, quote.net_minor, quote.tax_minor) == (
        9000,
        9000,
        1800,
    )
    assert quote.total_minor == 10800
    assert quote.gross_minor == 10800


def test_rounding_is_once_per_line_not_per_ticket():
    # 3 × 0.99 incl. 20 %: per ticket the tax would be 3 × 0.17 = 0.51; per line it
    # is 2.97 - round(2.97 / 1.2) = 2.97 - 2.48 = 0.49.
    quote = price_basket(
        event=_event(), lines=[(_ticket_type(1, 99, VAT_FR), 3)], at=NOW
    )
    assert quote.lines[0].tax_minor == 49
    assert quote.lines[0].net_minor == 248


def test_several_rates_and_exempt_in_one_basket():
    lines = [
        (_ticket_type(1, 2000, VAT_FR), 1),
        (_ticket_type(2, 1055, VAT_FR_REDUCED), 2),
        (_ticket_type(3, 1500, EXEMPT), 1),
        (_ticket_type(4, 700, None), 1),
    ]
    quote = price_basket(event=_event(), lines=lines, at=NOW)
    taxes = {summary.name: summary for summary in quote.taxes}
    assert set(taxes) == {"TVA", "TVA réduite", "Exempt"}  # no rate: no tax line
    assert (taxes["TVA"].net_minor, taxes["TVA"].tax_minor) == (1667, 333)
    assert (taxes["TVA réduite"].net_minor, taxes["TVA réduite"].tax_minor) == (
        2000,
        110,
    )
    assert (taxes["Exempt"].net_minor, taxes["Exempt"].tax_minor) == (1500, 0)
    assert quote.tax_minor == 443
    assert quote.total_minor == 2000 + 2110 + 1500 + 700
    assert quote.net_minor + quote.tax_minor == quote.total_minor


def test_zero_decimal_currency_rounds_to_whole_yen():
    # ¥1,001 excl. 10 %: 100.1 yen of tax rounds to 100; never fractions of a yen.
    quote = price_basket(
        event=_event("JPY", Organiser.PriceMode.EXCLUSIVE),
        lines=[(_ticket_type(1, 1001, GST_AU), 1)],
        at=NOW,
    )
    assert (quote.net_minor, quote.tax_minor, quote.total_minor) == (1001, 100, 1101)
    inclusive = price_basket(
        event=_event("JPY"), lines=[(_ticket_type(1, 1001, GST_AU), 1)], at=NOW
    )
    # ¥1,001 incl. 10 %: net 910.0 exactly, tax 91.
    assert (inclusive.net_minor, inclusive.tax_minor) == (910, 91)


def test_tax_is_on_the_amount_after_the_group_discount():
    ticket_type = _ticket_type(
        1,
        1000,
        VAT_FR,
        group_min_quantity=4,
        group_discount_percent=Decimal("10"),
    )
    quote = price_basket(
        event=_event("EUR", Organiser.PriceMode.EXCLUSIVE),
        lines=[(ticket_type, 4)],
        at=NOW,
    )
    line = quote.lines[0]
    assert (line.subtotal_minor, line.discount_minor) == (4000, 400)
    assert (line.net_minor, line.tax_minor, line.total_minor) == (3600, 720, 4320)


def test_no_rate_means_no_tax_line_and_todays_totals():
    quote = price_basket(
        event=_event(), lines=[(_ticket_type(1, 4500, None), 2)], at=NOW
    )
    assert quote.taxes == []
    assert (quote.net_minor, quote.tax_minor, quote.total_minor) == (9000, 0, 9000)


line_strategy = st.tuples(
    st.integers(min_value=0, max_value=10_000_000),
    st.integers(min_value=1, max_value=20),
    st.sampled_from(RATES),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_strategy, min_size=1, max_size=5),
    inclusive=st.booleans(),
    currency=st.sampled_from(["EUR", "AUD", "JPY", "KWD"]),
)
def test_tax_matches_an_independent_decimal_calculation(lines, inclusive, currency):
    mode = Organiser.PriceMode.INCLUSIVE if inclusive else Organiser.PriceMode.EXCLUSIVE
    basket = [
        (_ticket_type(index + 1, price, rate), quantity)
        for index, (price, quantity, rate) in enumerate(lines)
    ]
    quote = price_basket(event=_event(currency, mode), lines=basket, at=NOW)
    expected = [
        _reference(price * quantity, rate, inclusive) for price, quantity, rate in lines
    ]
    for line, (net, tax, gross) in zip(quote.lines, expected, strict=True):
        assert (line.net_minor, line.tax_minor, line.total_minor) == (net, tax, gross)
    assert quote.net_minor == sum(net for net, _, _ in expected)
    assert quote.tax_minor == sum(tax for _, tax, _ in expected)
    assert quote.total_minor == sum(gross for _, _, gross in expected)
    assert quote.net_minor + quote.tax_minor == quote.total_minor
    if inclusive:
        assert quote.total_minor == quote.subtotal_minor - quote.discount_minor


@pytest.mark.django_db
def test_a_booking_stores_the_tax_the_quote_priced():
    from bookings.services import AttendeeInput, BuyerInput, LineInput, booking_create
    from events.tests.factories import SessionFactory, TicketTypeFactory

    session = SessionFactory(
        event__organiser__price_mode=Organiser.PriceMode.EXCLUSIVE,
        event__currency="EUR",
    )
    organiser = session.event.organiser
    rate = TaxRate.objects.create(
        organiser=organiser, name="TVA", percent=Decimal("20"), account_code="OUTPUT"
    )
    ticket_type = TicketTypeFactory(
        event=session.event, price_minor=1000, tax_rate=rate
    )
    booking = booking_create(
        session_id=session.pk,
        lines=[LineInput(ticket_type_id=ticket_type.pk, quantity=3)],
        buyer=BuyerInput(name="Ada", email="ada@example.org"),
        attendees=[AttendeeInput(name=f"A{i}") for i in range(3)],
        idempotency_key="tax-1",
    )
    booking.refresh_from_db()
    assert (booking.subtotal_minor, booking.tax_minor, booking.total_minor) == (
        3000,
        600,
        3600,
    )
    assert booking.prices_include_tax is False
    line = booking.lines.get()
    assert (line.net_minor, line.tax_minor, line.total_minor) == (3000, 600, 3600)
    assert (line.tax_rate_id, line.tax_name, line.tax_percent, line.tax_code) == (
        rate.pk,
        "TVA",
        Decimal("20.000"),
        "OUTPUT",
    )
