"""Refunding from the booking's page in admin: everything, some tickets or an amount
typed in currency units, with a reason, through the refund service against the
Stripe fake. Only the booking's organiser (owner or manager) may; more than was paid
is refused with a message on the form."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bookings.models import Booking, Ticket
from bookings.tests.helpers import hold
from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory
from payments.models import Payment, Refund
from payments.services import payment_settle, payment_start
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(stripe_fake, settings, session, ticket_type):
    """Two tickets at 45.00 EUR, paid 90.00 by card."""
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    booking = hold(session, (ticket_type, 2))
    payment = payment_start(
        booking_id=booking.pk, provider="stripe", return_url="http://testserver/"
    )
    stripe_fake.succeed(payment.provider_reference)
    return payment_settle(payment_id=payment.pk, source="test")


def _login(client, organiser, role):
    member = MembershipFactory(organiser=organiser, role=role)
    client.force_login(member.user)
    return member.user


def _refund_url(payment):
    return reverse("admin:bookings_booking_refund", args=[payment.booking_id])


def test_the_booking_page_offers_a_refund(client, paid):
    _login(client, paid.organiser, Membership.Role.MANAGER)

    page = client.get(
        reverse("admin:bookings_booking_change", args=[paid.booking_id])
    ).content.decode()

    assert _refund_url(paid) in page
    form = client.get(_refund_url(paid)).content.decode()
    assert "€90.00" in form  # what is left to refund
    assert 'data-currency="EUR"' in form


def test_a_partial_refund_by_amount(client, paid, stripe_fake):
    user = _login(client, paid.organiser, Membership.Role.MANAGER)

    response = client.post(
        _refund_url(paid),
        {"how": "amount", "amount": "25,00", "reason": "late start"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Refund of €25.00 asked for" in response.content.decode()
    refund = Refund.objects.get()
    assert (refund.payment_id, refund.amount_minor, refund.currency) == (
        paid.pk,
        2500,
        "EUR",
    )
    assert (refund.status, refund.reason, refund.created_by) == (
        Refund.Status.SUCCEEDED,
        "late start",
        user,
    )
    (provider_refund,) = stripe_fake.refunds.values()
    assert provider_refund["amount"] == 2500
    paid.refresh_from_db()
    assert paid.refunded_minor == 2500
    booking = Booking.objects.get(pk=paid.booking_id)
    assert booking.status == Booking.Status.CONFIRMED  # partly refunded, still on
    assert set(booking.tickets.values_list("status", flat=True)) == {"valid"}
    entry = AuditEntry.objects.get(action="payments.refund.requested")
    assert (entry.actor, entry.data["amount_minor"], entry.data["reason"]) == (
        user,
        2500,
        "late start",
    )


def test_a_refund_by_ticket_refunds_its_price_and_voids_it(client, paid):
    _login(client, paid.organiser, Membership.Role.OWNER)
    first, second = Ticket.objects.filter(booking_id=paid.booking_id).order_by("id")

    response = client.post(
        _refund_url(paid),
        {"how": "tickets", "tickets": [first.pk], "reason": "cannot come"},
    )

    assert response.status_code == 302
    assert Refund.objects.get().amount_minor == 4500
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Ticket.Status.VOID, Ticket.Status.VALID)
    assert Booking.objects.get(pk=paid.booking_id).status == Booking.Status.CONFIRMED
    assert AuditEntry.objects.filter(action="bookings.ticket.voided").exists()


def test_a_full_refund_refunds_the_booking(client, paid):
    _login(client, paid.organiser, Membership.Role.MANAGER)

    response = client.post(_refund_url(paid), {"how": "full", "reason": "event moved"})

    assert response.status_code == 302
    assert Refund.objects.get().amount_minor == 9000
    booking = Booking.objects.get(pk=paid.booking_id)
    assert booking.status == Booking.Status.REFUNDED
    assert set(booking.tickets.values_list("status", flat=True)) == {"void"}


def test_more_than_was_paid_is_refused_on_the_form(client, paid, stripe_fake):
    _login(client, paid.organiser, Membership.Role.MANAGER)
    client.post(_refund_url(paid), {"how": "amount", "amount": "80", "reason": "a"})

    response = client.post(
        _refund_url(paid), {"how": "amount", "amount": "10.01", "reason": "b"}
    )

    assert response.status_code == 200
    assert (
        "€10.01 is more than what is left to refund: at most €10.00"
        in response.content.decode()
    )
    assert list(Refund.objects.values_list("amount_minor", flat=True)) == [8000]
    assert len(stripe_fake.refunds) == 1
    assert Payment.objects.get(pk=paid.pk).refunded_minor == 8000


def test_another_organiser_cannot_refund_or_see_the_page(client, paid):
    _login(client, OrganiserFactory(), Membership.Role.OWNER)

    assert client.get(_refund_url(paid)).status_code == 404
    response = client.post(_refund_url(paid), {"how": "full", "reason": "x"})

    assert response.status_code == 404
    assert not Refund.objects.exists()


def test_staff_cannot_refund(client, paid):
    _login(client, paid.organiser, Membership.Role.STAFF)

    response = client.post(_refund_url(paid), {"how": "full", "reason": "x"})

    assert response.status_code == 403
    assert not Refund.objects.exists()
