"""Hold hoarding (issue 16, item 4): seats held per email, per address and per
session share, renewals counted, the organiser's per-order maximum. Real Redis for
the hourly seat budgets, real PostgreSQL (and threads) for the share under the lock."""

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django_redis.cache import RedisCache

from bookings import abuse
from bookings.exceptions import HoldLimitReached
from bookings.models import Booking
from bookings.services import BuyerInput
from events.models import Event
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.tests.api_fixtures import api_key, post

from . import helpers

SHARE_MESSAGE = "You already hold as many seats for this date as one buyer may"


@pytest.fixture(autouse=True)
def _redis_only():
    assert isinstance(caches["default"], RedisCache), "These tests need REDIS_URL."


@pytest.fixture
def addresses():
    """Fresh client addresses; their Redis counters are deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        ip = f"203.0.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 254 + 1}"
        made.append(ip)
        return ip

    yield make
    for ip in made:
        cache.delete_pattern(f"checkout:ip:{abuse.client_key(ip)}:*")


def _email() -> str:
    email = f"buyer-{uuid.uuid4().hex[:10]}@example.org"
    return email


@pytest.fixture
def hall(db):
    """The probed shape: 120 seats, up to 10 of a type per order."""
    session = SessionFactory(capacity=120)
    ticket_type = TicketTypeFactory(
        event=session.event, price_minor=4500, max_per_order=10
    )
    return session, ticket_type


def _checkout(client, session, ticket_type, quantity, *, ip, email):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Buyer",
        "buyer_email": email,
        "token": uuid.uuid4().hex,
        "action": "book",
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    return client.post(f"/e/{session.event.slug}/checkout/", data, REMOTE_ADDR=ip)


def _held(session, **filters) -> int:
    return (
        Booking.objects.holding()
        .filter(session=session, **filters)
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )


@pytest.mark.django_db
def test_one_address_cannot_hold_the_whole_session_under_many_emails(
    client, hall, addresses
):
    session, ticket_type = hall
    hoarder = addresses()
    answers = [
        _checkout(client, session, ticket_type, 10, ip=hoarder, email=_email())
        for _ in range(12)  # 12 x 10 = all 120 seats
    ]

    # Its share is the per-order maximum (20), more than 10% of 120.
    assert [a.status_code for a in answers[:2]] == [302, 302]
    assert {a.status_code for a in answers[2:]} == {400}
    assert SHARE_MESSAGE in answers[2].content.decode()
    assert _held(session) == 20
    assert Booking.objects.filter(session=session).count() == 2

    # A real buyer, elsewhere, still gets seats.
    buyer = _checkout(client, session, ticket_type, 10, ip=addresses(), email=_email())
    assert buyer.status_code == 302
    assert _held(session) == 30


@pytest.mark.django_db
def test_one_email_cannot_hold_more_than_its_share_from_many_addresses(
    client, hall, addresses
):
    session, ticket_type = hall
    email = _email()
    codes = [
        _checkout(
            client, session, ticket_type, 10, ip=addresses(), email=email
        ).status_code
        for _ in range(4)
    ]
    assert codes == [302, 302, 400, 400]
    assert _held(session, buyer_email=email) == 20


@pytest.mark.django_db
def test_the_share_is_a_tenth_of_a_large_session(client, addresses):
    session = SessionFactory(capacity=400)  # 10% = 40 > the per-order maximum 20
    ticket_type = TicketTypeFactory(event=session.event, max_per_order=10)
    ip = addresses()
    codes = [
        _checkout(client, session, ticket_type, 10, ip=ip, email=_email()).status_code
        for _ in range(5)
    ]
    assert codes == [302, 302, 302, 302, 400]
    assert _held(session) == 40


@pytest.mark.django_db
def test_paid_and_expired_seats_do_not_count_against_the_share(hall):
    session, ticket_type = hall
    buyer = BuyerInput(name="Ada", email=_email())
    first = helpers.hold(session, (ticket_type, 10), buyer=buyer)
    second = helpers.hold(session, (ticket_type, 10), buyer=buyer)
    with pytest.raises(HoldLimitReached) as refused:
        helpers.hold(session, (ticket_type, 1), buyer=buyer)
    assert refused.value.seats_left == 0

    Booking.objects.filter(pk=first.pk).update(status=Booking.Status.CONFIRMED)
    Booking.objects.filter(pk=second.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    helpers.hold(session, (ticket_type, 10), buyer=buyer)
    assert _held(session, buyer_email=buyer.email) == 10


@pytest.mark.django_db
def test_renewed_holds_keep_counting_against_the_hourly_seats(
    client, hall, addresses, settings
):
    """A hold that expires and is taken again, every 15 minutes, uses the hour's
    seats up even though it never holds more than its share at once."""
    settings.CHECKOUT_SEATS_PER_IP_PER_HOUR = 25
    session, ticket_type = hall
    ip = addresses()
    email = _email()
    for _ in range(2):
        assert (
            _checkout(client, session, ticket_type, 10, ip=ip, email=email).status_code
            == 302
        )
        Booking.objects.filter(session=session).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    third = _checkout(client, session, ticket_type, 10, ip=ip, email=_email())

    assert third.status_code == 429
    assert "You have held too many seats in a short time" in third.content.decode()
    assert _held(session) == 0
    assert Booking.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_or_repeated_checkout_gives_its_seats_back(
    client, hall, addresses, settings
):
    settings.CHECKOUT_SEATS_PER_IP_PER_HOUR = 20
    session, ticket_type = hall
    ip = addresses()
    sold_out = SessionFactory(event=session.event, venue=session.venue, capacity=1)
    for _ in range(3):  # sold out: no hold, so no seats counted
        _checkout(client, sold_out, ticket_type, 5, ip=ip, email=_email())
    answer = _checkout(client, session, ticket_type, 10, ip=ip, email=_email())
    assert answer.status_code == 302
    assert _held(session) == 10


@pytest.mark.django_db
def test_the_organisers_per_order_maximum(client, hall, addresses):
    session, ticket_type = hall
    Event.objects.filter(pk=session.event_id).update(max_tickets_per_order=4)
    other = TicketTypeFactory(event=session.event, max_per_order=10)
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": 3,
        f"qty_{other.pk}": 2,
        "buyer_name": "Buyer",
        "buyer_email": _email(),
        "token": "t",
        "action": "book",
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(5)})
    answer = client.post(
        f"/e/{session.event.slug}/checkout/", data, REMOTE_ADDR=addresses()
    )
    assert answer.status_code == 400
    assert "At most 4 tickets per order." in answer.content.decode()
    assert Booking.objects.count() == 0


# The partner API


@pytest.fixture
def api_hall(hall):
    session, ticket_type = hall
    return session, ticket_type, api_key(session.event.organiser)


def _api_book(client, session, ticket_type, plain, quantity, email):
    return post(
        client,
        "/api/v1/bookings/",
        {
            "session": session.pk,
            "lines": [{"ticket_type": ticket_type.pk, "quantity": quantity}],
            "buyer": {"name": "Buyer", "email": email},
            "attendees": [{"name": f"Guest {i}"} for i in range(quantity)],
        },
        plain,
    )


@pytest.mark.django_db
def test_api_refuses_an_email_past_its_share_with_409_hold_limit(client, api_hall):
    session, ticket_type, plain = api_hall
    email = _email()
    assert _api_book(client, session, ticket_type, plain, 10, email).status_code == 201
    assert _api_book(client, session, ticket_type, plain, 6, email).status_code == 201
    refused = _api_book(client, session, ticket_type, plain, 6, email.upper())

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "hold_limit"
    assert error["seats_left"] == 4
    assert SHARE_MESSAGE in error["message"]
    assert _held(session) == 16
    # Another buyer is not affected.
    assert (
        _api_book(client, session, ticket_type, plain, 10, _email()).status_code == 201
    )


@pytest.mark.django_db
def test_api_refuses_more_than_the_per_order_maximum(client, api_hall):
    session, ticket_type, plain = api_hall
    Event.objects.filter(pk=session.event_id).update(max_tickets_per_order=3)
    refused = _api_book(client, session, ticket_type, plain, 4, _email())
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "lines": ["At most 3 tickets per order."]
    }
    assert Booking.objects.count() == 0


# Under the lock, with real threads


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_by_one_email_never_pass_its_share():
    session = SessionFactory(capacity=120)
    ticket_type = TicketTypeFactory(event=session.event, max_per_order=10)
    email = _email()
    barrier = threading.Barrier(12)

    def attempt(index):
        buyer = BuyerInput(name="Buyer", email=email)
        try:
            barrier.wait(timeout=5)
            helpers.hold(session, (ticket_type, 5), buyer=buyer)
            return "held"
        except HoldLimitReached:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))

    assert outcomes.count("held") == 4  # 4 x 5 = the share of 20
    assert outcomes.count("refused") == 8
    assert _held(session, buyer_email=email) == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_from_one_address_never_pass_its_share():
    session = SessionFactory(capacity=120)
    ticket_type = TicketTypeFactory(event=session.event, max_per_order=10)
    key = abuse.client_key("198.51.100.7")
    barrier = threading.Barrier(12)

    def attempt(index):
        buyer = BuyerInput(name="Buyer", email=_email())
        try:
            barrier.wait(timeout=5)
            helpers.hold(session, (ticket_type, 5), buyer=buyer, client_key=key)
            return "held"
        except HoldLimitReached:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))

    assert outcomes.count("held") == 4
    assert _held(session, client_key=key) == 20
    assert Booking.objects.filter(session=session).count() == 4
