"""Load shedding (bookings/shedding.py): beyond SALE_MAX_IN_FLIGHT_PER_SESSION sales in
flight, a buyer is told "busy, retry in N s" at once (503 + Retry-After on the page and
the API), and nothing is ever oversold."""

import contextlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.test import Client

from bookings import shedding
from bookings.models import Booking
from bookings.shedding import SaleShed, retry_after_for, sale_admission
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.api_keys import ApiKey


@pytest.mark.parametrize(
    ("in_flight", "limit", "expected"),
    [
        (1, 8, None),
        (8, 8, None),  # the limit itself is admitted
        (9, 8, 1),
        (16, 8, 2),
        (17, 8, 2),
        (25, 8, 3),
        (10_000, 8, shedding.MAX_RETRY_AFTER_SECONDS),
        (50, 0, None),  # 0: shedding off
        (2, 1, 1),
    ],
)
def test_retry_after_grows_with_the_queue_and_is_bounded(in_flight, limit, expected):
    assert retry_after_for(in_flight, limit) == expected


@pytest.fixture
def limit_2(settings):
    settings.SALE_MAX_IN_FLIGHT_PER_SESSION = 2
    return 2


def test_the_limit_admits_that_many_and_frees_a_place_on_exit(limit_2):
    session_id = 10_000_000 + uuid.uuid4().int % 1_000_000
    with contextlib.ExitStack() as stack:
        stack.enter_context(sale_admission(session_id))
        stack.enter_context(sale_admission(session_id))
        with pytest.raises(SaleShed) as shed, sale_admission(session_id):
            pass
        assert shed.value.retry_after_seconds == 1
        assert shed.value.code == "busy"
        with sale_admission(session_id + 1):  # another session has its own queue
            pass
    with sale_admission(session_id), sale_admission(session_id):
        pass  # both places were given back, by the sales and by the refused one


def test_an_entry_left_by_a_dead_process_goes_stale(limit_2):
    session_id = 20_000_000 + uuid.uuid4().int % 1_000_000
    redis = cache.client.get_client(write=True)
    key = shedding._queue_key(session_id)
    old = time.time() - shedding._stale_after_seconds() - 1
    redis.zadd(key, {"dead-1": old, "dead-2": old})
    with sale_admission(session_id), sale_admission(session_id):
        pass
    assert redis.zcard(key) == 0


def test_without_redis_sales_go_on_unshed(limit_2, monkeypatch, caplog):
    class Down:
        def pipeline(self, **kwargs):
            raise ConnectionError("redis down")

    monkeypatch.setattr(shedding, "_redis", lambda: Down())
    with sale_admission(1), sale_admission(1), sale_admission(1):
        pass
    assert "sale admission" in caplog.text


# --- Real threads on PostgreSQL, through the checkout page and the API ----------------


def _api_post(plain, session, ticket_type, index):
    response = Client().post(
        "/api/v1/bookings/",
        {
            "session": session.pk,
            "lines": [{"ticket_type": ticket_type.pk, "quantity": 1}],
            "buyer": {"name": f"Buyer {index}", "email": f"api{index}@example.org"},
            "attendees": [{"name": f"Guest {index}"}],
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    return "api", response


def _page_post(session, ticket_type, index):
    client = Client(REMOTE_ADDR=f"10.0.{index // 250}.{index % 250 + 1}")
    response = client.post(
        f"/e/{session.event.slug}/checkout/",
        {
            "session": session.pk,
            f"qty_{ticket_type.pk}": 1,
            "buyer_name": f"Buyer {index}",
            "buyer_email": f"page{index}@example.org",
            "attendee_name_0": f"Guest {index}",
            "token": f"tok-{index}",
            "action": "book",
        },
    )
    return "page", response


def _is_shed(channel, response) -> bool:
    if response.status_code != 503:
        return False
    seconds = int(response["Retry-After"])
    if channel == "api":
        return response.json()["error"]["code"] == "busy" and seconds >= 1
    page = response.content.decode()
    return f"please try again in {seconds} second" in page


@pytest.mark.django_db(transaction=True)
def test_beyond_the_limit_buyers_are_shed_at_once_and_nothing_is_oversold(
    limit_2, settings
):
    settings.INVENTORY_LOCK_TIMEOUT_MS = 10_000  # the admitted wait out the blocker
    session = SessionFactory(capacity=3)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    key, plain = ApiKey.generate(
        organiser=session.event.organiser, name="reseller", scopes=["write"]
    )
    key.save()

    def send(index):
        try:
            if index % 2:
                return _api_post(plain, session, ticket_type, index)
            return _page_post(session, ticket_type, index)
        finally:
            connection.close()

    # Another transaction holds the session's row lock: the first two sales queue
    # behind it, and every further one must be refused without waiting for it.
    locked, release = threading.Event(), threading.Event()

    def blocker():
        try:
            with transaction.atomic(using="default"):
                Session.objects.select_for_update().get(pk=session.pk)
                locked.set()
                release.wait(20)
        finally:
            connections["default"].close()

    wave = 10
    with ThreadPoolExecutor(max_workers=wave + 1) as pool:
        holder = pool.submit(blocker)
        assert locked.wait(10)
        started = time.monotonic()
        futures = [pool.submit(send, index) for index in range(wave)]
        shed, others = [], []
        for future in as_completed(futures, timeout=30):
            channel, response = future.result()
            if response.status_code == 503:
                shed.append((channel, response, time.monotonic() - started))
                if len(shed) == wave - limit_2:
                    release.set()  # the queue is full and everyone else answered
            else:
                others.append((channel, response))
        release.set()
        holder.result()

    assert len(shed) == wave - limit_2, [r.status_code for _, r in others]
    assert all(_is_shed(channel, response) for channel, response, _ in shed)
    # Refused while the lock was still held: at once, not after a lock timeout.
    assert max(elapsed for *_, elapsed in shed) < 5
    assert sorted(r.status_code for _, r in others) == sorted(
        302 if channel == "page" else 201 for channel, _ in others
    )
    assert {channel for channel, *_ in shed} == {"api", "page"}

    # The crowd comes back; the session sells out and is never oversold.
    for index in range(wave, wave + 6):
        send(index)
    assert Booking.objects.filter(session=session).count() == 3
    session.refresh_from_db()
    assert session.held_ceiling <= 3
    redis = cache.client.get_client(write=True)
    assert redis.zcard(shedding._queue_key(session.pk)) == 0
