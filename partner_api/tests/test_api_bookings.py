import datetime as dt
import json
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from bookings.access import booking_page_path
from bookings.exceptions import InvalidTransition
from bookings.models import Booking
from bookings.services import booking_cancel
from events.models import Session
from partner_api.idempotency import REPLAY_WINDOW, idempotency_records_purge
from partner_api.models import ApiIdempotencyRecord
from ticketing.models import AuditEntry

from .api_fixtures import api_key, book, get, money, order, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


# Bookings


def test_booking_is_created_pending_with_the_contract_shape(client, shop, settings):
    settings.SITE_URL = "https://tickets.example.org"
    response = book(client, shop, 2)
    assert response.status_code == 201
    booking = Booking.objects.get()
    body = response.json()
    expires_at = dt.datetime.fromisoformat(body.pop("expires_at"))
    assert expires_at == booking.expires_at
    assert expires_at.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))
    assert body.pop("created_at")
    assert body == {
        "reference": booking.reference,
        "status": "PENDING",
        "subtotal": money(9000),
        "discount": money(0),
        "total": money(9000),
        # Added by the tax issue (additive): no tax rate, so no tax.
        "net": money(9000),
        "tax": money(0),
        "prices_include_tax": True,
        "lines": [
            {
                "ticket_type": shop["regular"].pk,
                "quantity": 2,
                "unit_price": money(4500),
                "discount": money(0),
                "total": money(9000),
                "net": money(9000),
                "tax": money(0),
                "tax_rate": None,
            }
        ],
        "payment_url": "https://tickets.example.org"
        + booking_page_path(booking.reference),
        "session": shop["session"].pk,
        "event": shop["session"].event.slug,
    }
    assert booking.channel == Booking.Channel.API
    assert [a.name for a in booking.attendees.all()] == ["Guest 0", "Guest 1"]
    assert AuditEntry.objects.get(
        action="bookings.booking.held"
    ).actor_label.startswith("api key partner")
    page = client.get(
        urlsplit(body["payment_url"])._replace(scheme="", netloc="").geturl()
    )
    assert page.status_code == 200


def test_a_free_booking_is_confirmed(client, shop):
    shop["regular"].price_minor = 0
    shop["regular"].save()
    body = book(client, shop, 1).json()
    assert body["status"] == "CONFIRMED"
    assert body["expires_at"] is None
    assert body["total"] == money(0)


def test_booking_auth_scope_and_nothing_written(client, shop):
    assert post(client, "/api/v1/bookings/", order(shop)).status_code == 401
    read_only = api_key(shop["session"].event.organiser, scopes=("read",))
    response = post(client, "/api/v1/bookings/", order(shop), read_only)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"buyer": {"name": "", "email": "nope"}}, ["buyer.email", "buyer.name"]),
        ({"attendees": [{"name": "A"}]}, ["attendees"]),
        (
            {"attendees": [{"name": ""}, {"name": "B", "email": "x"}]},
            ["attendees.0.name", "attendees.1.email"],
        ),
        ({"lines": [{"ticket_type": "x", "quantity": 2}]}, ["lines.0.ticket_type"]),
        ({"session": None}, ["session"]),
    ],
)
def test_booking_bad_input_is_400_with_field_paths(client, shop, change, fields):
    response = post(
        client, "/api/v1/bookings/", {**order(shop), **change}, shop["plain"]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted(error["fields"]) == fields
    assert not Booking.objects.exists()


def test_booking_rules_of_the_service_come_back_as_field_errors(client, shop):
    shop["regular"].max_per_order = 1
    shop["regular"].save()
    response = book(client, shop, 2)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["lines.0.quantity"]


def test_sold_out_is_409_with_what_is_left(client, shop):
    assert book(client, shop, 9).status_code == 201
    response = book(client, shop, 2)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "sold_out",
        "message": "Not enough seats left for this order.",
        "fields": {"session": ["1 left"], "lines.0.quantity": ["1 left"]},
        "available": {
            "session": 1,
            "ticket_types": [{"id": shop["regular"].pk, "available": 1}],
        },
    }
    assert Booking.objects.count() == 1


def test_not_on_sale_is_409(client, shop):
    Session.objects.filter(pk=shop["session"].pk).update(
        sale_status=Session.SaleStatus.CLOSED
    )
    response = book(client, shop, 1)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_on_sale"


def test_busy_is_503_with_retry_after_and_not_stored(client, shop, monkeypatch):
    from bookings.exceptions import InventoryBusy
    from bookings.services import holds

    def busy(**kwargs):
        raise InventoryBusy()

    monkeypatch.setattr(holds, "_booking_insert", busy)
    response = book(client, shop, 1, key="busy-1")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "busy"
    assert not ApiIdempotencyRecord.objects.exists()
    monkeypatch.undo()
    assert book(client, shop, 1, key="busy-1").status_code == 201


# Idempotency


def test_replay_returns_the_same_response_and_books_once(client, shop):
    first = book(client, shop, 2, key="order-1")
    again = book(client, shop, 2, key="order-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    booking = Booking.objects.get()
    assert booking.idempotency_key.endswith(":order-1")
    record = ApiIdempotencyRecord.objects.get()
    assert (record.key, record.response_status) == ("order-1", 201)


def test_same_key_with_another_body_is_409_conflict(client, shop):
    book(client, shop, 2, key="order-1")
    response = book(client, shop, 3, key="order-1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert Booking.objects.count() == 1


def test_key_order_and_whitespace_do_not_change_the_fingerprint(client, shop):
    body = order(shop, 1)
    first = post(client, "/api/v1/bookings/", body, shop["plain"], "k")
    reordered = dict(reversed(list(body.items())))
    again = client.post(
        "/api/v1/bookings/",
        json.dumps(reordered, indent=2),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {shop['plain']}",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert again.json() == first.json()


def test_errors_are_replayed_too(client, shop):
    first = post(
        client,
        "/api/v1/bookings/",
        {**order(shop), "buyer": {}},
        shop["plain"],
        "bad-1",
    )
    assert first.status_code == 400
    # Even if the input would now pass, the stored 400 is the answer for this key.
    again = post(
        client,
        "/api/v1/bookings/",
        {**order(shop), "buyer": {}},
        shop["plain"],
        "bad-1",
    )
    assert (again.status_code, again.json()) == (400, first.json())


def test_a_request_in_progress_is_409_with_retry_after(client, shop):
    plain = shop["plain"]
    first = book(client, shop, 1, key="slow")
    record = ApiIdempotencyRecord.objects.get()
    ApiIdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=None, response_body=None
    )
    response = post(client, "/api/v1/bookings/", order(shop, 1), plain, "slow")
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    # Abandoned (a crashed worker): the next retry takes over; the service's own key
    # returns the booking made the first time.
    ApiIdempotencyRecord.objects.filter(pk=record.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=5)
    )
    retry = post(client, "/api/v1/bookings/", order(shop, 1), plain, "slow")
    assert retry.status_code == 201
    assert retry.json()["reference"] == first.json()["reference"]
    assert Booking.objects.count() == 1


def test_keys_are_per_api_key_and_expire_after_the_window(client, shop):
    book(client, shop, 1, key="k")
    other_key = api_key(shop["session"].event.organiser)
    assert (
        post(client, "/api/v1/bookings/", order(shop, 1), other_key, "k").status_code
        == 201
    )
    ApiIdempotencyRecord.objects.update(
        created_at=timezone.now() - REPLAY_WINDOW - dt.timedelta(seconds=1)
    )
    # Past the window the key is free, but the booking it made stays its own.
    response = book(client, shop, 2, key="k")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert Booking.objects.count() == 2
    assert idempotency_records_purge() == 1  # the other key's expired row


def test_a_bad_idempotency_key_is_400(client, shop):
    response = book(client, shop, 1, key="x" * 129)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]


# One booking and cancelling


def test_get_booking_and_other_organisers_are_404(client, shop):
    reference = book(client, shop, 1).json()["reference"]
    response = get(client, f"/api/v1/bookings/{reference}/", shop["plain"])
    assert response.status_code == 200
    assert response.json()["reference"] == reference
    assert get(client, f"/api/v1/bookings/{reference}/").status_code == 401
    stranger = api_key(shop["other_session"].event.organiser)
    for path in (f"/api/v1/bookings/{reference}/", "/api/v1/bookings/NOPE-123456/"):
        response = get(client, path, stranger)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = post(client, f"/api/v1/bookings/{reference}/cancel/", {}, stranger)
    assert response.status_code == 404


def test_cancel_releases_seats_then_is_409(client, shop):
    reference = book(client, shop, 3).json()["reference"]
    path = f"/api/v1/bookings/{reference}/cancel/"
    read_only = api_key(shop["session"].event.organiser, scopes=("read",))
    assert post(client, path, {}, read_only).status_code == 403
    response = post(client, path, {"reason": "changed plans"}, shop["plain"])
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CANCELLED
    again = post(client, path, {}, shop["plain"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"


def test_cancel_of_an_expired_booking_is_409(client, shop):
    reference = book(client, shop, 1).json()["reference"]
    booking = Booking.objects.get()
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.EXPIRED)
    response = post(client, f"/api/v1/bookings/{reference}/cancel/", {}, shop["plain"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"


def test_cancel_replay_with_a_key_returns_the_first_answer(client, shop):
    reference = book(client, shop, 1).json()["reference"]
    path = f"/api/v1/bookings/{reference}/cancel/"
    first = post(client, path, {}, shop["plain"], "cancel-1")
    again = post(client, path, {}, shop["plain"], "cancel-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    booking = Booking.objects.get()
    with pytest.raises(InvalidTransition):
        booking_cancel(booking_id=booking.pk)


def test_schema_documents_the_selling_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/sessions/{id}/availability/",
        "/api/v1/quotes/",
        "/api/v1/bookings/",
        "/api/v1/bookings/{reference}/",
        "/api/v1/bookings/{reference}/cancel/",
        "/api/v1/bookings/{reference}/tickets/",
        "/api/v1/checkins/",
    ):
        assert path in paths
    booking = paths["/api/v1/bookings/"]["post"]
    assert {"201", "400", "409", "503"} <= set(booking["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in booking["parameters"])
