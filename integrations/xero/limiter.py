"""Xero's limits per organisation (tenant), kept on our side by every worker at once.

Xero counts per tenant: at most 60 calls in any 60 s, 5,000 in any 24 h and 5 in
flight (settings XERO_MINUTE_LIMIT, XERO_DAY_LIMIT, XERO_CONCURRENT_LIMIT). A fixed
window would let 120 calls through around a window's edge, so these are sliding
windows: a Redis sorted set per limit holds each call's time (the in-flight set holds
each slot's lease end, so a worker that died frees its slot when the lease lapses).
One Lua script checks all three and takes a slot atomically, so two workers never
both take the last one.

With Redis unreachable (or no Redis configured) each process keeps the same windows
in memory with 1/PROVIDER_QUOTA_PROCESSES of each limit, so that all processes
together stay under Xero's (ARCHITECTURE, "Decisions").

`clock` and `sleep` are module attributes so tests can run a simulated clock.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from ticketing.lib.degrade import cache_unavailable
from ticketing.lib.http import ExternalUnavailable

logger = logging.getLogger(__name__)

clock = time.time
sleep = time.sleep

# A call counts in our windows a little longer than in Xero's: we time it when it
# leaves, Xero when it arrives, and the previous call may have taken longer to get
# there. Without the margin two calls 60 s apart here can land 59.99 s apart there.
MARGIN = 1.0
MINUTE = 60.0 + MARGIN
DAY = 86400.0 + MARGIN
# A slot is held at most this long: longer than one call with its timeouts.
SLOT_LEASE = 120.0

_ACQUIRE = """
local now = tonumber(ARGV[1])
local minute = tonumber(ARGV[7])
local day = tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - minute)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - day)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  return tostring(0.05)
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + minute - now)
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + day - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[5])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], 90000) end
return tostring(0)
"""


@dataclass(frozen=True, slots=True)
class Limits:
    minute: int
    day: int
    concurrent: int

    @classmethod
    def from_settings(cls, share: int = 1) -> Limits:
        return cls(
            minute=max(1, settings.XERO_MINUTE_LIMIT // share),
            day=max(1, settings.XERO_DAY_LIMIT // share),
            concurrent=max(1, settings.XERO_CONCURRENT_LIMIT // share),
        )


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


class _LocalWindows:
    """The same windows in this process's memory (Redis down or absent)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, deque[float]] = defaultdict(deque)
        self.slots: dict[str, dict[str, float]] = defaultdict(dict)

    def try_take(self, tenant: str, token: str, now: float, limits: Limits) -> float:
        with self.lock:
            calls, slots = self.calls[tenant], self.slots[tenant]
            while calls and calls[0] <= now - DAY:
                calls.popleft()
            for held, until in list(slots.items()):
                if until <= now:
                    del slots[held]
            if len(slots) >= limits.concurrent:
                return 0.05
            in_minute = [t for t in calls if t > now - MINUTE]
            if len(in_minute) >= limits.minute:
                return in_minute[0] + MINUTE - now
            if len(calls) >= limits.day:
                return calls[0] + DAY - now
            calls.append(now)
            slots[token] = now + SLOT_LEASE
            return 0.0

    def release(self, tenant: str, token: str) -> None:
        with self.lock:
            self.slots[tenant].pop(token, None)


_local = _LocalWindows()


class TenantLimiter:
    """`with TenantLimiter(tenant_id).slot(): <one call to Xero>`."""

    def __init__(self, tenant_id: str, *, max_wait: float | None = None) -> None:
        self.tenant_id = tenant_id
        self.max_wait = (
            settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
        )
        self._local_used: set[str] = set()

    def _keys(self) -> list[str]:
        # With the cache's prefix, as every other key this deployment keeps in Redis.
        prefix = cache.make_key(f"xero:limit:{self.tenant_id}")
        return [f"{prefix}:minute", f"{prefix}:day", f"{prefix}:inflight"]

    def _try_take(self, token: str, now: float) -> float:
        limits = Limits.from_settings()
        try:
            wait = _redis().eval(
                _ACQUIRE,
                3,
                *self._keys(),
                repr(now),
                limits.minute,
                limits.day,
                limits.concurrent,
                token,
                SLOT_LEASE,
                MINUTE,
                DAY,
            )
            return float(wait)
        except Exception:  # noqa: BLE001 - no Redis: this process's share, below
            cache_unavailable("xero rate limit")
            self._local_used.add(token)
            share = Limits.from_settings(settings.PROVIDER_QUOTA_PROCESSES)
            return _local.try_take(self.tenant_id, token, now, share)

    def acquire(self) -> str:
        """Wait for a slot (at most max_wait); returns its token for `release`.
        Raises ExternalUnavailable with `retry_after` when the wait is longer (the
        day's quota spent): the outbox tries again then."""
        token = uuid.uuid4().hex
        waited = 0.0
        while True:
            wait = self._try_take(token, clock())
            if wait <= 0:
                return token
            if waited + wait > self.max_wait:
                raise ExternalUnavailable(
                    f"Xero's limits for tenant {self.tenant_id} are spent for now",
                    retry_after=wait,
                )
            sleep(wait)
            waited += wait

    def release(self, token: str) -> None:
        if token in self._local_used:
            _local.release(self.tenant_id, token)
            self._local_used.discard(token)
            return
        try:
            _redis().zrem(self._keys()[2], token)
        except Exception:  # noqa: BLE001 - the slot's lease frees it
            cache_unavailable("xero rate limit release")

    @contextmanager
    def slot(self) -> Iterator[None]:
        token = self.acquire()
        try:
            yield
        finally:
            self.release(token)
