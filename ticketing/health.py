"""`/healthz`: is the database, the cache and the broker answering?"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "ok", 5)
    return "ok" if cache.get("healthz") == "ok" else "error"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    from ticketing.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


@require_GET
def healthz(request):
    checks = {}
    for name, check in (
        ("database", _check_database),
        ("cache", _check_cache),
        ("broker", _check_broker),
    ):
        try:
            checks[name] = check()
        except Exception:  # a health check reports every failure, whatever its kind
            logger.exception("Health check %s failed", name)
            checks[name] = "error"
    healthy = checks["database"] == "ok"
    degraded = any(value == "error" for value in checks.values())
    status = "ok" if not degraded else ("degraded" if healthy else "down")
    return JsonResponse({"status": status, **checks}, status=200 if healthy else 503)
