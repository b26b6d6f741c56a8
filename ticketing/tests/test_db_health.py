"""Django's `SELECT 1` before a request is skipped for connections used in the last
IDLE_SECONDS, and still sent for idle ones (ticketing/db_health.py). The connection's
backend is really terminated between two requests; the request cycle is driven by
its signals, as the WSGI handler sends them (the test client mutes Django's own
receivers)."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, connection

from ticketing import db_health
from ticketing.tests.test_faults_postgres import _connect

pytestmark = pytest.mark.django_db(transaction=True)


def _terminate_own_backend() -> None:
    pid = connection.connection.info.backend_pid
    with _connect() as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def _request_that_queries() -> int:
    request_started.send(sender=None)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 42")
            return cursor.fetchone()[0]
    finally:
        request_finished.send(sender=None)


@pytest.fixture
def health_checks_on():
    # As in a web process, after Django's close_old_connections: the test client
    # reconnects that one after each of its requests, which puts it last.
    request_started.disconnect(dispatch_uid="ticketing.db_health")
    request_finished.disconnect(dispatch_uid="ticketing.db_health")
    db_health.connect_signals()
    connection.ensure_connection()
    before = connection.health_check_enabled
    connection.health_check_enabled = True
    yield
    connection.health_check_enabled = before
    connection.close()


def test_a_recently_used_connection_is_not_checked_and_is_replaced_after_failing(
    health_checks_on,
):
    assert _request_that_queries() == 42
    _terminate_own_backend()
    # Used a moment ago: no SELECT 1 first, so the request meets the dead connection
    # (the middleware's 503 with Retry-After in a real request)...
    with pytest.raises(OperationalError):
        _request_that_queries()
    # ...and Django replaced it at the end of that request: the next one works.
    assert _request_that_queries() == 42


def test_an_idle_connection_is_checked_first(health_checks_on, monkeypatch):
    assert _request_that_queries() == 42
    _terminate_own_backend()
    monkeypatch.setattr(db_health, "IDLE_SECONDS", 0.0)  # every connection is idle
    # The health check finds it dead and reconnects before the query.
    assert _request_that_queries() == 42
