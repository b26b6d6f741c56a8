"""Prometheus metrics (prometheus-client), served at `/metrics` behind METRICS_TOKEN.

Counters and histograms live in the process that records them; with several
gunicorn or Celery processes, set PROMETHEUS_MULTIPROC_DIR (see docs/operations.md)
and each process writes its values there for `/metrics` to add up. Backlog depth
and age are read from the database when `/metrics` is scraped, by the backlogs
apps register with `ticketing.health`. docs/operations.md says what each one means.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

# prometheus-client opens a file there for each metric as it is created below: a
# process started before anything made the directory (a Celery worker, beat,
# manage.py in a fresh container) would fail to import this module.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

DEGRADED = Counter(
    "ticketing_degraded_total",
    "Operations that went on without a failed service (the cache) instead of failing",
    ["service", "what"],
)
HOLDS = Counter(
    "ticketing_holds_total", "Holds (pending bookings) created, by channel", ["channel"]
)
SALES = Counter(
    "ticketing_sales_total", "Bookings confirmed (sold), by channel", ["channel"]
)
SEATS_SOLD = Counter(
    "ticketing_seats_sold_total",
    "Seats sold by confirmed bookings, by channel",
    ["channel"],
)
LOCK_WAIT = Histogram(
    "ticketing_inventory_lock_wait_seconds",
    "Time a sale waited for its session's row lock",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
BUSY = Counter(
    "ticketing_busy_total",
    "Requests answered 503 busy (lock timeout, lost database connection)",
    ["reason"],
)
CHECKOUT_LATENCY = Histogram(
    "ticketing_checkout_seconds",
    "Time to answer a checkout (shop page POST or API booking), by channel",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EXTERNAL_LATENCY = Histogram(
    "ticketing_external_call_seconds",
    "Duration of calls to external providers and platforms",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
)
EXTERNAL_FAILURES = Counter(
    "ticketing_external_call_failures_total",
    "Failed calls to external providers and platforms, by kind of failure",
    ["platform", "reason"],
)
TASKS = Counter(
    "ticketing_celery_tasks_total",
    "Celery task runs by outcome (succeeded, failed, retried, rejected, revoked)",
    ["task", "outcome"],
)
ALERTS = Counter(
    "ticketing_alerts_raised_total",
    "Alerts raised (new or repeated), by kind",
    ["kind"],
)


def hold_counted(channel: str) -> None:
    HOLDS.labels(channel=channel).inc()


def sale_counted(channel: str, seats: int) -> None:
    SALES.labels(channel=channel).inc()
    SEATS_SOLD.labels(channel=channel).inc(seats)


def external_call_observed(platform: str, seconds: float, failure: str | None) -> None:
    EXTERNAL_LATENCY.labels(platform=platform).observe(seconds)
    if failure:
        EXTERNAL_FAILURES.labels(platform=platform, reason=failure).inc()


# -- Celery task outcomes (connected in ticketing.celery) ------------------------


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


def task_succeeded(sender=None, **kwargs) -> None:
    TASKS.labels(task=_task_name(sender), outcome="succeeded").inc()


def task_failed(sender=None, **kwargs) -> None:
    TASKS.labels(task=_task_name(sender), outcome="failed").inc()


def task_retried(sender=None, **kwargs) -> None:
    TASKS.labels(task=_task_name(sender), outcome="retried").inc()


def task_revoked(sender=None, request=None, **kwargs) -> None:
    name = getattr(getattr(request, "task", None), "name", None) or _task_name(sender)
    TASKS.labels(task=name, outcome="revoked").inc()


def task_rejected(sender=None, message=None, **kwargs) -> None:
    name = (getattr(message, "headers", None) or {}).get("task", "unknown")
    TASKS.labels(task=name, outcome="rejected").inc()


# -- measured at scrape time -----------------------------------------------------


def outbox_depth(now) -> int:
    """Outbox rows due now (the `outbox` backlog's depth)."""
    from ticketing.models import OutboxMessage

    return OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now
    ).count()


class BacklogCollector:
    """Depth and age of every backlog registered with `ticketing.health`, read from
    the database when `/metrics` is scraped (so every process reports the same)."""

    def collect(self):
        from django.utils import timezone
        from prometheus_client.core import GaugeMetricFamily

        from ticketing import health

        now = timezone.now()
        age = GaugeMetricFamily(
            "ticketing_backlog_age_seconds",
            "How long the longest-waiting due row of a backlog has been due",
            labels=["backlog"],
        )
        depth = GaugeMetricFamily(
            "ticketing_backlog_depth",
            "Rows of a backlog that are due now",
            labels=["backlog"],
        )
        for name, backlog in health.backlogs().items():
            oldest = backlog.oldest_due(now)
            age.add_metric(
                [name], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            )
            if backlog.depth is not None:
                depth.add_metric([name], backlog.depth(now))
        yield age
        yield depth


def _processes_registry():
    """This process's metrics, or every process's through PROMETHEUS_MULTIPROC_DIR."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    combined = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(combined)
    else:
        combined.register(_Forward(REGISTRY))
    return combined


def registry():
    """What `/metrics` serves: the processes' metrics plus the backlogs."""
    combined = _processes_registry()
    combined.register(BacklogCollector())
    return combined


# -- the Celery worker's own endpoint (connected in ticketing.celery) --------------


def worker_metrics_serve(sender=None, **kwargs):
    """`worker_init`: with METRICS_WORKER_PORT set, the worker's main process serves
    its pool's metrics (task outcomes, external calls) on that port, since a worker
    machine has no `/metrics` of its own. Prefork children record in their own
    processes, so this needs PROMETHEUS_MULTIPROC_DIR (a directory of the worker's
    own, emptied here before the pool starts); without it only a solo or threads
    pool's figures are seen. No token: keep the port off public networks."""
    from django.conf import settings
    from prometheus_client import start_http_server

    port = settings.METRICS_WORKER_PORT
    if not port:
        return None
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        mine = f"_{os.getpid()}.db"  # this process's own, in use (a solo pool)
        for stale in path.glob("*.db"):
            if not stale.name.endswith(mine):
                stale.unlink(missing_ok=True)
    server, _thread = start_http_server(
        port, addr=settings.METRICS_WORKER_ADDR, registry=_processes_registry()
    )
    logger.info("Worker metrics on %s:%s", settings.METRICS_WORKER_ADDR, port)
    return server


def worker_process_exited(sender=None, pid=None, **kwargs):
    """`worker_process_shutdown`: a pool child's live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


class _Forward:
    """The default registry's metrics inside another registry."""

    def __init__(self, source) -> None:
        self.source = source

    def collect(self):
        yield from self.source.collect()


# -- checkout latency ------------------------------------------------------------

# URL names of the checkouts: the shop's page and the partner API's booking.
CHECKOUT_ROUTES = {"checkout": "web", "booking-create": "api"}


class CheckoutTimingMiddleware:
    """Times every checkout POST (`ticketing_checkout_seconds`), whatever its answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        channel = CHECKOUT_ROUTES.get(getattr(match, "url_name", None) or "")
        if channel:
            CHECKOUT_LATENCY.labels(channel=channel).observe(time.monotonic() - started)
        return response
