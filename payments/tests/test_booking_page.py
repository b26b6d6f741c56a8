import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.services import AttendeeInput, LineInput, booking_create
from bookings.tests.helpers import BUYER, hold
from events.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_booking_page_queries_do_not_grow_with_tickets(client, session):
    types = [TicketTypeFactory(event=session.event, price_minor=0) for _ in range(3)]
    small = hold(session, (types[0], 1))
    big = booking_create(
        session_id=session.pk,
        buyer=BUYER,
        lines=[LineInput(tt.pk, 3) for tt in types],
        attendees=[AttendeeInput(f"Guest {n}") for n in range(9)],
    )
    assert _queries(client, booking_page_path(small.reference)) == _queries(
        client, booking_page_path(big.reference)
    )


def test_expired_hold_page_offers_a_way_back(client, session, ticket_type):
    booking = hold(session, (ticket_type, 1))
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    page = client.get(booking_page_path(booking.reference)).content.decode()
    assert 'data-state="expired"' in page
    # Back to the checkout, prefilled from this booking.
    assert f"/e/{session.event.slug}/checkout/?again={booking.reference}&amp;t=" in page


def test_pending_paid_booking_shows_the_stripe_payment_step(
    client, session, ticket_type, stripe_fake, settings
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_shown"
    booking = hold(session, (ticket_type, 1))
    page = client.get(booking_page_path(booking.reference)).content.decode()
    page_again = client.get(booking_page_path(booking.reference)).content.decode()
    assert 'data-state="pending"' in page
    assert 'data-publishable-key="pk_test_shown"' in page
    assert stripe_fake.calls["payment_intents.create"] == 1
    assert page.count("data-client-secret=") == page_again.count("data-client-secret=")


def test_return_from_stripe_confirms_without_waiting_for_the_webhook(
    client, session, ticket_type, stripe_fake, settings
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    booking = hold(session, (ticket_type, 1))
    client.get(booking_page_path(booking.reference))
    payment = booking.payments.get()
    stripe_fake.succeed(payment.provider_reference)
    page = client.get(
        booking_page_path(booking.reference)
        + "&payment_intent="
        + payment.provider_reference
        + "&redirect_status=succeeded"
    )
    assert 'data-state="confirmed"' in page.content.decode()
