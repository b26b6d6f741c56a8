"""PostgreSQL failing under a request: the request's backend is really terminated
(`pg_terminate_backend` from another connection, while the request waits for a row
lock the test holds), or its statement really times out. The answer is a 503 with
Retry-After, nothing of the sale is written, and the next request sells.
"""

import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from bookings.models import Booking
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.tests.api_fixtures import api_key, order, post
from ticketing import db

pytestmark = pytest.mark.django_db(transaction=True)


def _connect() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        dbname=params["NAME"],
        autocommit=True,
    )


class SessionLock:
    """Another connection holding the session's row lock, as a long sale would."""

    def __init__(self, session_id: int) -> None:
        self.conn = _connect()
        self.conn.autocommit = False
        self.conn.execute(
            "SELECT id FROM events_session WHERE id = %s FOR UPDATE", [session_id]
        )
        self.pid = self.conn.info.backend_pid
        # pg_stat_activity is a snapshot per transaction: watch from outside it.
        self.watcher = _connect()

    def waiter(self, timeout: float = 10) -> int:
        """The backend waiting for this lock (the request's), once it waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> %s",
                [self.pid],
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
        raise AssertionError("no request came to wait for the session lock")

    def terminate(self, pid: int) -> None:
        terminated = self.watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert terminated.fetchone()[0]

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()
            self.watcher.close()


@pytest.fixture
def session_lock():
    """`session_lock(session_id)`; released at the end of the test whatever happens
    (a lock left behind would block the database flush forever)."""
    locks = []

    def take(session_id):
        locks.append(SessionLock(session_id))
        return locks[-1]

    yield take
    for lock in locks:
        lock.release()


def in_thread(request):
    """Run `request()` in a thread of its own (its own database connection)."""
    result = {}

    def run():
        try:
            result["response"] = request()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _checkout(client, session, ticket_type, token):
    return client.post(
        f"/e/{session.event.slug}/checkout/",
        {
            "session": session.pk,
            f"qty_{ticket_type.pk}": 2,
            "buyer_name": "Ada Lovelace",
            "buyer_email": "ada@example.org",
            "token": token,
            "action": "book",
            "attendee_name_0": "Guest 0",
            "attendee_name_1": "Guest 1",
        },
    )


@pytest.fixture
def shop(settings):
    settings.INVENTORY_LOCK_TIMEOUT_MS = 20000  # the request waits until killed
    session = SessionFactory(capacity=10)
    paid = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    return {
        "session": session,
        "regular": paid,
        "plain": api_key(session.event.organiser),
    }


def test_page_request_whose_connection_is_killed_is_503_and_the_next_sells(
    client, shop, session_lock
):
    session, paid = shop["session"], shop["regular"]
    lock = session_lock(session.pk)
    thread, result = in_thread(lambda: _checkout(client, session, paid, "t1"))
    lock.terminate(lock.waiter())
    thread.join(20)
    lock.release()

    response = result["response"]
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "nothing of it was saved" in response.content.decode()
    assert Booking.objects.count() == 0
    assert Session.objects.get(pk=session.pk).sold_count == 0

    thread, result = in_thread(lambda: _checkout(client, session, paid, "t2"))
    thread.join(20)
    assert result["response"].status_code == 302
    assert Booking.objects.get().quantity == 2


def test_api_request_whose_connection_is_killed_is_503_json_and_the_next_sells(
    client, shop, session_lock
):
    lock = session_lock(shop["session"].pk)
    thread, result = in_thread(
        lambda: post(client, "/api/v1/bookings/", order(shop, 2), shop["plain"], "k1")
    )
    lock.terminate(lock.waiter())
    thread.join(20)
    lock.release()

    response = result["response"]
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "busy"
    assert Booking.objects.count() == 0

    thread, result = in_thread(
        lambda: post(client, "/api/v1/bookings/", order(shop, 2), shop["plain"], "k2")
    )
    thread.join(20)
    assert result["response"].status_code == 201
    assert Booking.objects.get().quantity == 2


@pytest.fixture
def web_timeouts(settings):
    settings.DATABASE_STATEMENT_TIMEOUT_MS = 400
    settings.DATABASE_LOCK_TIMEOUT_MS = 300
    db.web_timeouts_enable()
    yield
    db.web_timeouts_disable()


def test_web_connections_get_statement_and_lock_timeouts(web_timeouts):
    def settings_seen():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'),"
                " current_setting('lock_timeout')"
            )
            return cursor.fetchone()

    thread, result = in_thread(settings_seen)
    thread.join(10)
    assert result["response"] == ("400ms", "300ms")


def test_workers_and_commands_get_no_timeouts():
    def settings_seen():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            return cursor.fetchone()[0]

    thread, result = in_thread(settings_seen)
    thread.join(10)
    assert result["response"] == "0"


def test_a_statement_over_the_web_timeout_is_503_and_writes_nothing(
    client, shop, web_timeouts, session_lock
):
    session, paid = shop["session"], shop["regular"]
    lock = session_lock(session.pk)
    thread, result = in_thread(lambda: _checkout(client, session, paid, "t1"))
    thread.join(20)
    lock.release()

    assert result["response"].status_code == 503
    assert result["response"]["Retry-After"] == "2"
    assert Booking.objects.count() == 0
