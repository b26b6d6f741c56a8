"""The database, failing well: timeouts for web requests, and a lost connection
answered 503 with Retry-After instead of a 500.

Web processes (gunicorn, through `ticketing.wsgi`) set `statement_timeout` and
`lock_timeout` on every new connection (DATABASE_STATEMENT_TIMEOUT_MS and
DATABASE_LOCK_TIMEOUT_MS), so that one slow query or a lock held too long never ties
up a web worker and a database connection for good. Celery workers and management
commands (migrations, reports) are left without: their long work is legitimate.
A sale sets its own, shorter lock timeout per transaction (INVENTORY_LOCK_TIMEOUT_MS).

Behind PgBouncer in transaction pooling, session settings do not stick to a client:
set both to 0 here and give the database role its defaults instead
(`ALTER ROLE web SET statement_timeout = '30s'`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
_web = {"enabled": False}


def web_timeouts_enable() -> None:
    """Called by the web entry point (wsgi.py): new connections get the timeouts."""
    _web["enabled"] = True
    connection_created.connect(_set_timeouts, dispatch_uid="ticketing.db.timeouts")


def web_timeouts_disable() -> None:
    _web["enabled"] = False
    connection_created.disconnect(dispatch_uid="ticketing.db.timeouts")


def _set_timeouts(sender, connection, **kwargs) -> None:
    if not _web["enabled"]:
        return
    statement = int(settings.DATABASE_STATEMENT_TIMEOUT_MS)
    lock = int(settings.DATABASE_LOCK_TIMEOUT_MS)
    with connection.cursor() as cursor:
        # set_config, not SET: it takes parameters. false: for the session.
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('lock_timeout', %s, false)",
            [f"{statement}ms", f"{lock}ms"],
        )


def _reason(error: Exception) -> str:
    sqlstate = getattr(getattr(error, "__cause__", None), "sqlstate", None)
    return {
        "57014": "statement_timeout",
        "55P03": "lock_timeout",
        "57P01": "connection_lost",  # admin_shutdown: pg_terminate_backend, restarts
        "57P02": "connection_lost",
        "57P03": "database_starting",
    }.get(sqlstate or "", "connection_lost" if sqlstate is None else "database_error")


def busy_response(request: HttpRequest, reason: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "error": {
                    "code": "busy",
                    "message": "We're busy, please try again in a moment.",
                    "fields": {},
                }
            },
            status=503,
        )
    else:
        response = HttpResponse(
            loader.render_to_string("503.html", request=request), status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A lost or timed-out database connection is a 503 with Retry-After (pages and
    the API's error shape). The view's transaction has been rolled back by then, so
    nothing of it was written; Django closes the broken connection at the end of the
    request and the next request opens a fresh one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        reason = _reason(exception)
        logger.warning(
            "Database unavailable (%s) during %s %s",
            reason,
            request.method,
            request.path_info,
            exc_info=True,
        )
        from ticketing import metrics

        metrics.BUSY.labels(reason=reason).inc()
        return busy_response(request, reason)
