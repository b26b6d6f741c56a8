"""Prometheus metrics (prometheus-client), served at `/metrics` behind METRICS_TOKEN.

Counters and histograms live in the process that records them; with several
gunicorn or Celery processes, set PROMETHEUS_MULTIPROC_DIR (see docs/operations.md)
and each process writes its values there for `/metrics` to add up. Backlog depth
and age are read from the database when `/metrics` is scraped, by the backlogs
apps register with `ticketing.health`. docs/operations.md says what each one means.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
