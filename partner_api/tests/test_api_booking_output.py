"""`booking_output` renders what the BookingOutput serializer (the documented shape)
renders, for the bookings the API creates and for bookings read back."""

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import Booking
from events.tests.factories import TicketTypeFactory
from partner_api.endpoints.serializers import BookingOutput, booking_output

from .api_fixtures import (  # noqa: F401
    book,
    frozen_signing_clock_fixture,
    order,
    post,
    shop_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_signing_clock")]


def _documented(booking: Booking) -> dict:
    context = {"currency": booking.currency, "tz": booking.event.tzinfo}
    return dict(BookingOutput(booking, context=context).data)


def _read_back(reference: str) -> Booking:
    return (
        Booking.objects.select_related("event")
        .prefetch_related("lines")
        .get(reference=reference)
    )


def test_a_new_pending_booking_renders_as_documented(client, shop):
    response = book(client, shop, quantity=2)
    assert response.status_code == 201
    booking = _read_back(response.json()["reference"])
    assert response.json() == _documented(booking)
    assert booking_output(booking) == _documented(booking)
    assert list(booking_output(booking)) == list(_documented(booking))


def test_a_free_confirmed_booking_has_no_expiry(client, shop):
    free = TicketTypeFactory(event=shop["session"].event, price_minor=0)
    body = order(shop, 1)
    body["lines"] = [{"ticket_type": free.pk, "quantity": 1}]
    response = post(client, "/api/v1/bookings/", body, shop["plain"])
    assert response.status_code == 201
    booking = _read_back(response.json()["reference"])
    assert booking.expires_at is None
    assert response.json()["expires_at"] is None
    assert booking_output(booking) == _documented(booking)


def test_several_lines_with_an_early_bird_render_as_documented(client, shop):
    early = TicketTypeFactory(
        event=shop["session"].event,
        price_minor=8000,
        early_bird_price_minor=6000,
        early_bird_deadline_at=timezone.now() + dt.timedelta(days=2),
    )
    body = order(shop, 3)
    body["lines"] = [
        {"ticket_type": shop["regular"].pk, "quantity": 1},
        {"ticket_type": early.pk, "quantity": 2},
    ]
    response = post(client, "/api/v1/bookings/", body, shop["plain"])
    assert response.status_code == 201, response.json()
    booking = _read_back(response.json()["reference"])
    assert len(response.json()["lines"]) == 2
    assert response.json() == _documented(booking)
    assert booking_output(booking) == _documented(booking)
