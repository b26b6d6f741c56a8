"""The partner API under real races: threads on their own PostgreSQL connections, a
test client each, requests released together."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from bookings.models import Booking
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.api_keys import ApiKey
from partner_api.models import ApiIdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

# PostgreSQL's default max_connections is 100 and other runs share the server: 100
# requests go through 40 connections at a time, all released by one barrier.
THREADS = 40


def _race(send, count, threads=THREADS):
    barrier = threading.Barrier(min(threads, count))

    def call(index):
        try:
            if barrier.n_waiting < barrier.parties:
                try:
                    barrier.wait(timeout=2)
                except threading.BrokenBarrierError:
                    pass
            return send(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, range(count)))


@pytest.fixture
def seats_20():
    session = SessionFactory(capacity=20)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    key, plain = ApiKey.generate(
        organiser=session.event.organiser, name="reseller", scopes=["write"]
    )
    key.save()
    return session, ticket_type, plain


def _order(session, ticket_type, index):
    return {
        "session": session.pk,
        "lines": [{"ticket_type": ticket_type.pk, "quantity": 1}],
        "buyer": {"name": f"Buyer {index}", "email": f"buyer{index}@example.org"},
        "attendees": [{"name": f"Guest {index}"}],
    }


def _post(plain, body, idempotency_key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    if idempotency_key:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    response = Client().post(
        "/api/v1/bookings/", body, content_type="application/json", **headers
    )
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return response.status_code, code, response


def test_100_partners_for_20_seats_sell_exactly_20(seats_20):
    session, ticket_type, plain = seats_20
    results = _race(
        lambda index: _post(plain, _order(session, ticket_type, index))[:2], 100
    )
    outcomes = Counter(results)
    assert outcomes[(201, None)] == 20
    assert set(outcomes) <= {(201, None), (409, "sold_out"), (503, "busy")}
    assert sum(outcomes.values()) == 100
    assert Booking.objects.filter(session=session).count() == 20
    assert Booking.objects.filter(session=session, channel="api").count() == 20


def test_one_idempotency_key_sent_5_times_at_once_books_once(seats_20):
    session, ticket_type, plain = seats_20
    body = _order(session, ticket_type, 0)
    results = _race(lambda _index: _post(plain, body, "same-key"), 5)
    statuses = Counter((status, code) for status, code, _response in results)
    assert set(statuses) <= {(201, None), (409, "idempotency_in_progress")}
    created = [response.json() for status, _code, response in results if status == 201]
    assert created, statuses
    assert all(body == created[0] for body in created)
    for status, _code, response in results:
        if status == 409:
            assert response["Retry-After"] == "1"
    assert Booking.objects.filter(session=session).count() == 1
    record = ApiIdempotencyRecord.objects.get()
    assert record.response_status == 201
    assert record.response_body == created[0]
    # Later retries of the in-progress ones get the stored answer.
    assert _post(plain, body, "same-key")[2].json() == created[0]
