"""The sales report's tax and net are the invoices' and the pricing's: for a period,
its tax is the tax of the bookings confirmed in it (the tax on their invoices), less
what their refunds' credit notes take back. Two rates per organiser, one organiser
pricing tax-inclusive (FR, EUR) and one tax-exclusive (AU, AUD)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from backoffice.reports.filters import Filters
from backoffice.reports.sales import sales_report
from backoffice.scope import Scope
from bookings.models import Booking
from bookings.tests.factories import DiscountCodeFactory
from events.models import Organiser
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TaxRateFactory,
    TicketTypeFactory,
)
from invoicing.models import Invoice
from payments import signals as payment_signals
from payments.models import Refund
from payments.tests.factories import PaymentFactory, RefundFactory

from .world import booked

pytestmark = pytest.mark.django_db

FIGURES = ("list", "discounts", "refunds", "gross", "tax", "net")


def _organiser(mode, currency, rates):
    organiser = OrganiserFactory(price_mode=mode, currency=currency)
    session = SessionFactory(
        capacity=100,
        event=EventFactory(organiser=organiser, currency=currency, title=currency),
    )
    types = [
        TicketTypeFactory(
            event=session.event,
            name=name,
            price_minor=price,
            max_per_order=20,
            tax_rate=TaxRateFactory(
                organiser=organiser, name=name, percent=Decimal(percent)
            ),
        )
        for name, price, percent in rates
    ]
    return organiser, session, types


def _sold(capture, session, lines, *, code=""):
    with capture(execute=True):  # the invoice is issued after the commit
        return booked(session, lines, code=code)


def _refund(capture, booking, *amounts):
    payment = PaymentFactory(
        organiser=booking.organiser,
        booking=booking,
        status="succeeded",
        succeeded_at=timezone.now(),
        amount_minor=booking.total_minor,
        currency=booking.currency,
    )
    for amount in amounts:
        refund = RefundFactory(
            organiser=booking.organiser,
            payment=payment,
            amount_minor=amount,
            status="succeeded",
        )
        with capture(execute=True):
            payment_signals.refund_succeeded.send(
                sender=Refund,
                refund_id=refund.pk,
                booking_id=booking.pk,
                amount_minor=amount,
            )


@pytest.fixture
def sales(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    fr, fr_session, (fr_std, fr_book) = _organiser(
        Organiser.PriceMode.INCLUSIVE,
        "EUR",
        [("TVA 20", 4550, "20"), ("TVA 5.5", 1999, "5.5")],
    )
    au, au_session, (au_gst, au_other) = _organiser(
        Organiser.PriceMode.EXCLUSIVE,
        "AUD",
        [("GST", 3333, "10"), ("Other", 1250, "12.5")],
    )
    DiscountCodeFactory(organiser=fr, code="FR10", percent=10)
    DiscountCodeFactory(organiser=au, code="AU15", percent=15)
    refunded_fr = _sold(capture, fr_session, [(fr_std, 3), (fr_book, 2)], code="FR10")
    _sold(capture, fr_session, [(fr_book, 7)])
    refunded_au = _sold(capture, au_session, [(au_gst, 2), (au_other, 3)], code="AU15")
    _sold(capture, au_session, [(au_gst, 1)])
    # Before the period: neither in the report nor in the sums below.
    old = _sold(capture, au_session, [(au_other, 4)])
    Booking.objects.filter(pk=old.pk).update(
        confirmed_at=timezone.now() - dt.timedelta(days=40)
    )
    return {
        "organisers": [fr, au],
        "refunded": (refunded_fr, refunded_au),
        "capture": capture,
        "old": old,
    }


def _report(organisers, group="event"):
    now = timezone.now()
    filters = Filters(start=now - dt.timedelta(days=30), end=now + dt.timedelta(days=1))
    scope = Scope(
        organiser_ids=[o.pk for o in organisers], organisers=organisers, selected=None
    )
    return sales_report(scope, filters, group)


def _totals(table):
    return {row["currency"]: row for row in table.totals}


def _documents(currency, type_, old):
    return (
        Invoice.objects.filter(currency=currency, type=type_)
        .exclude(booking=old)
        .exclude(parent__booking=old)
        .aggregate(
            net=Sum("subtotal_minor"), tax=Sum("tax_minor"), gross=Sum("total_minor")
        )
    )


def _in_period(currency, old):
    return Booking.objects.filter(status="confirmed", currency=currency).exclude(
        pk=old.pk
    )


def test_the_reports_tax_is_the_tax_of_the_periods_bookings_and_invoices(sales):
    totals = _totals(_report(sales["organisers"]))
    assert set(totals) == {"EUR", "AUD"}
    for currency in ("EUR", "AUD"):
        row = totals[currency]
        booked = _in_period(currency, sales["old"]).aggregate(
            tax=Sum("tax_minor"), gross=Sum("total_minor")
        )
        invoiced = _documents(currency, Invoice.Type.SALES, sales["old"])
        assert row["tax"] == booked["tax"] == invoiced["tax"] > 0
        assert row["gross"] == booked["gross"] == invoiced["gross"]
        assert row["net"] == invoiced["net"] == row["gross"] - row["tax"]
    # Inclusive prices: gross = list − discounts; exclusive: the tax is added.
    eur, aud = totals["EUR"], totals["AUD"]
    assert eur["gross"] == eur["list"] - eur["discounts"]
    assert aud["gross"] == aud["list"] - aud["discounts"] + aud["tax"]
    # Every row adds up to the total, tax by tax rate (one row per ticket type).
    by_type = _report(sales["organisers"], "ticket_type")
    for currency, total in _totals(by_type).items():
        rows = [row for row in by_type.rows if row["currency"] == currency]
        for key in FIGURES:
            assert sum(row[key] for row in rows) == total[key]


def test_refunds_take_back_the_tax_their_credit_notes_take_back(sales):
    refunded_fr, refunded_au = sales["refunded"]
    capture = sales["capture"]
    _refund(capture, refunded_fr, 1001, 2503)  # two partial refunds
    _refund(capture, refunded_au, refunded_au.total_minor)  # in full

    totals = _totals(_report(sales["organisers"]))
    for currency in ("EUR", "AUD"):
        row = totals[currency]
        invoiced = _documents(currency, Invoice.Type.SALES, sales["old"])
        credited = _documents(currency, Invoice.Type.CREDIT_NOTE, sales["old"])
        assert credited["gross"] > 0
        assert credited["tax"] > 0
        assert row["tax"] == invoiced["tax"] - credited["tax"]
        assert row["gross"] == invoiced["gross"] - credited["gross"]
        assert row["net"] == invoiced["net"] - credited["net"]
        assert row["refunds"] == credited["gross"]
