from urllib.parse import urlsplit

import pytest

from bookings.models import Booking, Ticket
from bookings.services import booking_confirm

from .api_fixtures import api_key, book, get, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def _tickets(client, reference, plain):
    return get(client, f"/api/v1/bookings/{reference}/tickets/", plain)


def _local(url):
    return urlsplit(url)._replace(scheme="", netloc="").geturl()


def test_a_confirmed_booking_lists_its_tickets_with_links(client, shop, settings):
    settings.SITE_URL = "https://tickets.example.org"
    reference = book(client, shop, 2).json()["reference"]
    assert _tickets(client, reference, shop["plain"]).json()["count"] == 0
    booking_confirm(booking_id=Booking.objects.get().pk)
    response = _tickets(client, reference, shop["plain"])
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    tickets = list(Ticket.objects.order_by("pk"))
    first = body["results"][0]
    assert first["code"] == tickets[0].code
    assert first["status"] == "VALID"
    assert first["attendee"] == {"name": "Guest 0", "email": ""}
    assert first["ticket_type"] == {"id": shop["regular"].pk, "name": "Regular"}
    assert first["session"] == shop["session"].pk
    assert first["checked_in_at"] is None
    assert first["pdf_url"].startswith(
        f"https://tickets.example.org/b/{reference}/tickets.pdf?t="
    )
    assert first["qr_url"].startswith(
        f"https://tickets.example.org/b/{reference}/tickets/{tickets[0].code}.png?t="
    )
    assert [t["attendee"]["name"] for t in body["results"]] == ["Guest 0", "Guest 1"]
    qr = client.get(_local(first["qr_url"]))
    assert (qr.status_code, qr["Content-Type"]) == (200, "image/png")


def test_cancelled_bookings_list_no_tickets(client, shop):
    shop["regular"].price_minor = 0
    shop["regular"].save()
    reference = book(client, shop, 1).json()["reference"]
    assert _tickets(client, reference, shop["plain"]).json()["count"] == 1
    post(client, f"/api/v1/bookings/{reference}/cancel/", {}, shop["plain"])
    assert _tickets(client, reference, shop["plain"]).json()["count"] == 0


def test_tickets_auth_and_other_organisers_are_404(client, shop):
    reference = book(client, shop, 1).json()["reference"]
    assert _tickets(client, reference, None).status_code == 401
    door = api_key(shop["session"].event.organiser, scopes=("checkin",))
    assert _tickets(client, reference, door).status_code == 403
    stranger = api_key(shop["other_session"].event.organiser)
    for ref in (reference, "NOPE-123456"):
        response = _tickets(client, ref, stranger)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
