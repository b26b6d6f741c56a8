"""Health: `/healthz` for load balancers, `/healthz/full` for monitors.

`/healthz` answers 200 while the database and the cache answer, else 503: a web
process that can reach both can serve. Its body also says whether the broker can be
reached and whether each backlog is moving ("status": "degraded" when not, still
200: the web keeps selling and stored work waits for the sweep). That part is
computed at most once every HEALTHZ_SUMMARY_SECONDS per process, so a load balancer
polling every second does not open a broker connection and run the backlog queries
each time. `/healthz/full`, behind METRICS_TOKEN, adds
what keeps work moving: the broker (a real connection, with a short timeout), a
worker heartbeat (a beat task a worker runs every minute), every backlog of stored
work (the longest a row has waited while due), and each platform connection's last
sync; 503 when any of them fails, with a JSON object per component.

Apps register their backlogs and checks in `AppConfig.ready()` (ticketing imports no
app above it); a backlog is a function returning since when its oldest due row has
been due.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "health:worker-heartbeat"
HEARTBEAT_MAX_AGE = dt.timedelta(minutes=2)
BACKLOG_MAX_AGE = dt.timedelta(minutes=5)
BROKER_TIMEOUT_SECONDS = 2
HEALTHZ_SUMMARY_SECONDS = 5

Component = dict[str, object]


@dataclass(frozen=True, slots=True)
class Backlog:
    oldest_due: Callable[[dt.datetime], dt.datetime | None]
    depth: Callable[[dt.datetime], int] | None = None
    link: Callable[[], str] | None = None


_backlogs: dict[str, Backlog] = {}
_checks: dict[str, Callable[[dt.datetime], Component]] = {}


def register_backlog(
    name: str,
    oldest_due: Callable[[dt.datetime], dt.datetime | None],
    depth: Callable[[dt.datetime], int] | None = None,
    link: Callable[[], str] | None = None,
) -> None:
    """`oldest_due(now)`: since when the longest-waiting due row has been due, or
    None when nothing is due. Over BACKLOG_MAX_AGE, `/healthz/full` fails.
    `depth(now)`, when given: how many rows are due (the `ticketing_backlog_depth`
    metric). `link()`, when given: the admin page of its waiting rows (the
    `backlog_stuck` alert's link; a callable, as URLs cannot be reversed in ready())."""
    _backlogs[name] = Backlog(oldest_due, depth, link)


def backlogs() -> dict[str, Backlog]:
    return dict(_backlogs)


def admin_link(model: str, **exact: str) -> str:
    """The admin list of `model` ("<app label>_<model name>"), filtered on the
    fields given (`status="pending"`: `?status__exact=pending`)."""
    url = reverse(f"admin:{model}_changelist")
    query = urlencode({f"{field}__exact": value for field, value in exact.items()})
    return f"{url}?{query}" if query else url


def register_check(name: str, check: Callable[[dt.datetime], Component]) -> None:
    """`check(now)` returns a component: {"status": "ok" | "error", ...}."""
    _checks[name] = check


# -- components ------------------------------------------------------------------


def _database(now: dt.datetime) -> Component:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok"}


def _cache(now: dt.datetime) -> Component:
    cache.set("healthz", "ok", 5)
    if cache.get("healthz") != "ok":
        return {"status": "error", "error": "value written was not read back"}
    return {"status": "ok"}


def _broker(now: dt.datetime) -> Component:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "eager: tasks run in the web process"}
    from ticketing.celery import app

    with app.connection_for_write(connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS
        )
    return {"status": "ok"}


def heartbeat_write() -> float:
    """Run by a worker (beat, every minute): the time the worker last ran a task."""
    beat = time.time()
    cache.set(HEARTBEAT_KEY, beat, timeout=None)
    return beat


def _worker(now: dt.datetime) -> Component:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "eager: tasks run in the web process"}
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return {"status": "error", "error": "no worker heartbeat yet"}
    age = max(0, int(now.timestamp() - beat))
    component: Component = {"status": "ok", "heartbeat_age_seconds": age}
    if age > HEARTBEAT_MAX_AGE.total_seconds():
        component.update(
            status="error", error="no worker (or beat) has run a task lately"
        )
    return component


def _backlog(oldest_due: Callable[[dt.datetime], dt.datetime | None]):
    def check(now: dt.datetime) -> Component:
        oldest = oldest_due(now)
        age = max(0, int((now - oldest).total_seconds())) if oldest else 0
        component: Component = {"status": "ok", "oldest_due_seconds": age}
        if age > BACKLOG_MAX_AGE.total_seconds():
            component.update(status="error", error="stored work is not moving")
        return component

    return check


def _run(components: dict[str, Callable[[dt.datetime], Component]]) -> dict:
    now = timezone.now()
    results = {}
    for name, check in components.items():
        try:
            results[name] = check(now)
        except Exception as error:  # a health check reports every failure
            logger.exception("Health check %s failed", name)
            results[name] = {"status": "error", "error": type(error).__name__}
    return results


_summary: tuple[float, dict] | None = None


def summary_forget() -> None:
    """Drop `/healthz`'s cached broker and backlog summary (tests)."""
    global _summary
    _summary = None


def _broker_and_backlogs() -> dict:
    """`{"broker": status, "backlogs": {name: status}}` for `/healthz`, cached per
    process for HEALTHZ_SUMMARY_SECONDS."""
    global _summary
    if (
        _summary is not None
        and time.monotonic() - _summary[0] < HEALTHZ_SUMMARY_SECONDS
    ):
        return _summary[1]
    results = _run(
        {
            "broker": _broker,
            **{
                name: _backlog(backlog.oldest_due)
                for name, backlog in _backlogs.items()
            },
        }
    )
    summary = {
        "broker": results.pop("broker")["status"],
        "backlogs": {name: result["status"] for name, result in results.items()},
    }
    _summary = (time.monotonic(), summary)
    return summary


# -- views -----------------------------------------------------------------------


@never_cache
@require_GET
def healthz(request):
    checks = _run({"database": _database, "cache": _cache})
    healthy = all(check["status"] == "ok" for check in checks.values())
    # Informational: a broker down or a stuck backlog does not take this web process
    # out of the load balancer (it still sells), but the body says so.
    summary = _broker_and_backlogs()
    moving = summary["broker"] == "ok" and all(
        status == "ok" for status in summary["backlogs"].values()
    )
    return JsonResponse(
        {
            "status": "down" if not healthy else "ok" if moving else "degraded",
            **{name: check["status"] for name, check in checks.items()},
            **summary,
        },
        status=200 if healthy else 503,
    )


def _authorised(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


def _refused(request, realm: str):
    """404 while METRICS_TOKEN is unset, 401 without the right bearer token."""
    if not settings.METRICS_TOKEN:
        return JsonResponse({"error": {"code": "not_found"}}, status=404)
    if not _authorised(request):
        response = JsonResponse({"error": {"code": "unauthorized"}}, status=401)
        response["WWW-Authenticate"] = f'Bearer realm="{realm}"'
        return response
    return None


@never_cache
@require_GET
def metrics_view(request):
    """Prometheus metrics (`ticketing.metrics`), behind METRICS_TOKEN."""
    if refused := _refused(request, "metrics"):
        return refused
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from ticketing import metrics

    return HttpResponse(
        generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST
    )


@never_cache
@require_GET
def healthz_full(request):
    if refused := _refused(request, "healthz"):
        return refused
    components = {
        "database": _database,
        "cache": _cache,
        "broker": _broker,
        "worker": _worker,
        **{
            f"backlog:{name}": _backlog(backlog.oldest_due)
            for name, backlog in _backlogs.items()
        },
        **_checks,
    }
    results = _run(components)
    healthy = all(result["status"] == "ok" for result in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "components": results},
        status=200 if healthy else 503,
    )
