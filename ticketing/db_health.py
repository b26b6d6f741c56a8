"""Django's per-request `SELECT 1`, only for connections that have been idle.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on the first query of every request
that reuses a persistent connection: one more round trip per API call, which issue
24's profile counted against the partner API. A connection that finished a request
less than IDLE_SECONDS ago is taken as alive instead. What that gives up: a database
restart inside those seconds is met by the next request's real query, which fails;
DatabaseUnavailableMiddleware answers it 503 with Retry-After (nothing written) and
Django drops the broken connection at the end of that request, so the one after
sells. Connections idle for longer (a quiet worker, the usual case after a restart
or a failover) are still checked first.
"""

from __future__ import annotations

import time

from django.core.signals import request_finished, request_started
from django.db import connections

IDLE_SECONDS = 5.0


def _recently_used(**kwargs) -> None:
    # Runs after Django's close_old_connections (connected when django.db was
    # imported), which has just asked for a check on the next query. (Django's test
    # client reconnects that receiver after each request, so under it the check is
    # always made: the safe side.)
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        last = getattr(conn, "last_request_finished_at", None)
        if conn.connection is not None and last and now - last < IDLE_SECONDS:
            conn.health_check_done = True


def _finished(**kwargs) -> None:
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        # A connection that had errors is checked (or closed) by Django already.
        conn.last_request_finished_at = None if conn.errors_occurred else now


def connect_signals() -> None:
    request_started.connect(_recently_used, dispatch_uid="ticketing.db_health")
    request_finished.connect(_finished, dispatch_uid="ticketing.db_health")
