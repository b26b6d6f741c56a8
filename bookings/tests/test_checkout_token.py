"""The checkout form's token (issue 16, item 7): bound to the browser session and
the basket, so that posting someone else's token never leads to their booking."""

import datetime as dt
import re
import uuid

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session as DjangoSession
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from bookings import abuse
from bookings.models import Booking

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    yield
    cache.delete_pattern("checkout:*")


@pytest.fixture
def checkout_url(session):
    return f"/e/{session.event.slug}/checkout/"


def _token(client, url, session) -> str:
    page = client.get(url, {"session": session.pk}).content.decode()
    return re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)


def _book(client, url, session, ticket_type, token, *, email, quantity=2, name="A"):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": name,
        "buyer_email": email,
        "token": token,
        "action": "book",
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    return client.post(url, data, REMOTE_ADDR=f"192.0.2.{uuid.uuid4().int % 250}")


def test_another_browser_posting_the_same_token_gets_its_own_booking(
    checkout_url, session, ticket_type
):
    ada, eve = Client(), Client()
    token = _token(ada, checkout_url, session)
    first = _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")
    ada_booking = Booking.objects.get()

    stolen = _book(
        eve, checkout_url, session, ticket_type, token, email="eve@x.org", name="Eve"
    )

    eve_booking = Booking.objects.exclude(pk=ada_booking.pk).get()
    assert first.status_code == stolen.status_code == 302
    assert ada_booking.reference in first["Location"]
    assert ada_booking.reference not in stolen["Location"]
    assert eve_booking.reference in stolen["Location"]
    assert eve_booking.buyer_email == "eve@x.org"
    # Eve's browser cannot open Ada's booking.
    assert eve.get(f"/b/{ada_booking.reference}/").status_code == 404
    assert ada.get(f"/b/{ada_booking.reference}/").status_code == 200


def test_same_basket_and_buyer_from_another_browser_is_a_new_attempt(
    checkout_url, session, ticket_type
):
    ada, other = Client(), Client()
    token = _token(ada, checkout_url, session)
    first = _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")
    second = _book(other, checkout_url, session, ticket_type, token, email="ada@x.org")

    assert Booking.objects.count() == 2
    assert first["Location"] != second["Location"]


def test_another_basket_in_the_same_browser_is_a_new_attempt(
    checkout_url, session, ticket_type
):
    ada = Client()
    token = _token(ada, checkout_url, session)
    _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")
    _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org", quantity=3)
    _book(ada, checkout_url, session, ticket_type, token, email="bob@x.org")

    assert sorted(
        Booking.objects.values_list("buyer_email", "quantity").order_by("pk")
    ) == [("ada@x.org", 2), ("ada@x.org", 3), ("bob@x.org", 2)]


def test_a_double_submit_in_one_browser_holds_once(checkout_url, session, ticket_type):
    ada = Client()
    token = _token(ada, checkout_url, session)
    first = _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")
    again = _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")

    assert Booking.objects.count() == 1
    assert first["Location"].split("?")[0] == again["Location"].split("?")[0]


def test_the_seats_of_a_double_submit_are_counted_once(
    checkout_url, session, ticket_type, settings
):
    settings.CHECKOUT_SEATS_PER_EMAIL_PER_HOUR = 3
    ada = Client()
    token = _token(ada, checkout_url, session)
    for _ in range(3):
        answer = _book(
            ada, checkout_url, session, ticket_type, token, email="ada@x.org"
        )
        assert answer.status_code == 302
    assert Booking.objects.count() == 1
    assert cache.get(f"{abuse._email_key('ada@x.org')}:seats:{_window()}") == 2


def _window() -> int:
    return int(abuse._now() // abuse.HOUR)


def test_viewing_the_checkout_writes_no_session_row(checkout_url, session, ticket_type):
    """Every anonymous view of the form used to write a django_session row that
    nothing deleted; the browser's checkout id is a cookie, and a session row is
    made only when a booking needs one."""
    ada = Client()
    for _ in range(3):
        token = _token(ada, checkout_url, session)
    assert DjangoSession.objects.count() == 0
    assert ada.cookies["checkout_browser"]["httponly"]

    answer = _book(ada, checkout_url, session, ticket_type, token, email="ada@x.org")

    assert answer.status_code == 302
    assert DjangoSession.objects.count() == 1  # the booking page's access
    assert ada.get(answer["Location"].split("?")[0]).status_code == 200


def test_a_forged_browser_cookie_is_replaced(checkout_url, session):
    ada = Client()
    ada.cookies["checkout_browser"] = "\x00" * 40
    ada.get(checkout_url)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", ada.cookies["checkout_browser"].value)


def test_expired_sessions_are_cleared_daily(settings):
    from ticketing.tasks import sessions_clear_task

    store = SessionStore()
    store["x"] = 1
    store.create()
    expired = SessionStore()
    expired.create()
    DjangoSession.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )

    sessions_clear_task.apply()

    assert list(DjangoSession.objects.values_list("session_key", flat=True)) == [
        store.session_key
    ]
    assert "ticketing.tasks.sessions_clear" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
