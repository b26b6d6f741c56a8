"""Load shedding for one session's sale: a bounded number of sales in flight.

Every sale of a session queues on the session's row lock, one at a time. In a
flash sale thousands of buyers arrive at once; if each waited its turn, every web
worker would sit in that queue (up to INVENTORY_LOCK_TIMEOUT_MS) while the event
page, other sessions and the payment pages wait behind them. So a sale first asks
to join the session's queue: at most SALE_MAX_IN_FLIGHT_PER_SESSION sales may be
in flight (waiting for or holding the lock) across all web processes; the next one
is refused at once with SaleShed, a 503 `busy` with Retry-After on both the
checkout page and the API, before it takes a worker's time or a database lock.

The queue is a Redis sorted set per session (member: one sale, score: when it
joined), checked in one round trip: drop entries older than the stale age (a
process killed mid-sale never leaves its entry behind for longer), add ours, count.
Over the limit, we take ours out again and refuse. If Redis cannot be reached, the
sale goes on unshed (logged, `ticketing_degraded_total`): the lock timeout still
bounds the wait, and Redis holds nothing a sale needs.

How to choose the limit: a sale admitted with N ahead of it waits about N times
the lock hold time h, so N ≤ target wait ÷ h (about 200 for 1 s at h ≈ 5 ms, see
bench/holds.py); and the sales of one session should never occupy more than about
half the web tier's worker threads, so that pages and other sessions keep the
rest. The second bound is the smaller one on every deployment we know, hence the
default 8 (two web processes of 8 threads each). 0 turns shedding off.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

from ticketing import metrics
from ticketing.lib.degrade import cache_unavailable

from .exceptions import InventoryBusy

# Retry-After never tells a buyer to wait longer than this.
MAX_RETRY_AFTER_SECONDS = 10


class SaleShed(InventoryBusy):
    """Too many sales of this session in flight: refused before queueing."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds


def retry_after_for(in_flight: int, limit: int) -> int | None:
    """None when a sale that makes `in_flight` (itself included) may go on; else the
    seconds to tell the buyer: one per full queue's worth of sales ahead of them
    (the queue drains in well under a second; a longer wait spreads the retries of
    a larger crowd), between 1 and MAX_RETRY_AFTER_SECONDS."""
    if limit <= 0 or in_flight <= limit:
        return None
    return max(1, min(MAX_RETRY_AFTER_SECONDS, math.ceil((in_flight - 1) / limit)))


def _stale_after_seconds() -> float:
    # A sale in flight waits for the lock at most the lock timeout, then runs a few
    # statements: an entry twice as old belongs to a process that died.
    return max(5.0, 2 * settings.INVENTORY_LOCK_TIMEOUT_MS / 1000)


def _redis():
    client = getattr(cache, "client", None)  # None: the demo's local-memory cache
    return client.get_client(write=True) if client is not None else None


def _queue_key(session_id: int) -> str:
    return cache.make_key(f"sale:in-flight:{session_id}")


def _join(redis, key: str, member: str) -> int:
    now = time.time()
    stale = _stale_after_seconds()
    pipe = redis.pipeline(transaction=True)
    pipe.zremrangebyscore(key, "-inf", now - stale)
    pipe.zadd(key, {member: now})
    pipe.zcard(key)
    pipe.expire(key, math.ceil(stale))
    _removed, _added, in_flight, _expire = pipe.execute()
    return int(in_flight)


def _leave(redis, key: str, member: str) -> None:
    try:
        redis.zrem(key, member)
    except Exception:  # the entry goes stale on its own
        cache_unavailable("sale admission release")


@contextlib.contextmanager
def sale_admission(session_id: int) -> Iterator[None]:
    """Run the block as one of the session's sales in flight, or raise SaleShed."""
    limit = settings.SALE_MAX_IN_FLIGHT_PER_SESSION
    redis = _redis() if limit > 0 else None
    if redis is None:
        yield
        return
    key, member = _queue_key(session_id), uuid.uuid4().hex
    try:
        in_flight = _join(redis, key, member)
    except Exception:
        cache_unavailable("sale admission")
        yield
        return
    if (retry_after := retry_after_for(in_flight, limit)) is not None:
        _leave(redis, key, member)
        metrics.BUSY.labels(reason="load_shed").inc()
        raise SaleShed(retry_after)
    try:
        yield
    finally:
        _leave(redis, key, member)
