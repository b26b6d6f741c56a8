"""Rate limits counted in fixed windows in the shared cache: client-side limits for
external APIs (see `ticketing.lib.http`, which re-exports these names), limits on
our own clients' failures (`FailureLimiter`) and `window_allows` for limits against
abuse. All of them (and the checkout limits of `bookings.abuse`) count with
`window_count`; with the cache down, provider quotas and the limits on writes from
unknown clients fall back to `local_window_count`, a per-process share."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from ticketing.lib.degrade import cache_unavailable
from ticketing.lib.http_errors import ExternalUnavailable

logger = logging.getLogger(__name__)

# Per-process counts used while the shared cache is unreachable: (key, window) -> calls.
_local_counts: dict[tuple[str, int], int] = {}
_local_lock = threading.Lock()

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


# A fresh window key can vanish between `add` and `incr` only at the very end of its
# window (or when evicted); the retry lands in the next window.
_INCR_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Window:
    key: str  # the cache key counted, `<key>:<window number>`
    count: int  # the count after this hit
    remaining: int  # whole seconds (at least 1) until the window ends


def window_count(
    key: str, window_seconds: int, amount: int = 1, *, now: float | None = None
) -> Window:
    """Add `amount` to `key`'s current fixed window of `window_seconds` and return
    the new count. Atomic across processes on Redis (`add` then `incr`, one INCR
    each), so two callers never both take the last slot. The key expires when its
    window ends. Cache errors are the caller's to handle (fail open or not)."""
    for _attempt in range(_INCR_ATTEMPTS):
        moment = time.time() if now is None else now
        window = int(moment // window_seconds)
        remaining = max(1, math.ceil((window + 1) * window_seconds - moment))
        window_key = f"{key}:{window}"
        cache.add(window_key, 0, timeout=remaining)
        try:
            return Window(window_key, cache.incr(window_key, amount), remaining)
        except ValueError:  # expired or evicted between add and incr
            now = None
            continue
    raise RuntimeError(f"Could not count a hit for {key}")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `calls` per `period_seconds`; parse with `RateLimit.parse("90/min")`."""

    calls: int
    period_seconds: int

    def __post_init__(self) -> None:
        # A limit of zero calls would park every caller until max_wait, then fail.
        if self.calls < 1 or self.period_seconds < 1:
            raise ValueError(f"A rate limit needs at least one call per period: {self}")

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """ "90/min", "2000/hour"; "" or "0" means no limit."""
        text = (text or "").strip()
        if text in ("", "0"):
            return None
        calls, _, period = text.partition("/")
        try:
            seconds = _PERIODS[period.strip().lower() or "s"]
            return cls(int(calls), seconds)
        except (KeyError, ValueError) as error:
            raise ValueError(
                f"Bad rate limit {text!r}; expected e.g. '90/min'"
            ) from error


class RateLimiter:
    """Fixed windows counted in the shared cache. A call over the limit waits for the
    next window when that is soon enough, otherwise fails as unavailable, so that a
    worker is never parked for long."""

    def __init__(self, key: str, limit: RateLimit | None, *, max_wait: float) -> None:
        self.key = key
        self.limit = limit
        self.max_wait = max_wait

    def acquire(self) -> None:
        if self.limit is None:
            return
        period = self.limit.period_seconds
        deadline = time.monotonic() + self.max_wait
        while True:
            now = time.time()
            if self._count(1, now=now) <= self.limit.calls:
                return
            wait = (int(now // period) + 1) * period - now + random.uniform(0, 0.05)
            if time.monotonic() + wait > deadline:
                raise ExternalUnavailable(
                    f"Client-side rate limit reached for {self.key}", retry_after=wait
                )
            time.sleep(wait)

    def charge(self, calls: int) -> None:
        """Count requests sent beyond the one `acquire` allowed (urllib3's retries),
        without waiting: the service counts them too."""
        if self.limit is None or calls <= 0:
            return
        self._count(calls)

    def _count(self, calls: int, *, now: float | None = None) -> int:
        period = self.limit.period_seconds
        try:
            return window_count(f"http:rate:{self.key}", period, calls, now=now).count
        except Exception:  # noqa: BLE001 - Redis down: see _count_locally
            cache_unavailable("provider rate limit")
            moment = time.time() if now is None else now
            return self._count_locally(int(moment // period), calls)

    def _count_locally(self, window: int, calls: int) -> int:
        """Without the shared cache, this process spends only its share of the
        provider's quota (see `local_window_count`)."""
        return local_window_count(self.key, window, calls, self.limit.calls)


def local_window_count(key: str, window: int, amount: int, limit: int) -> int:
    """Count `amount` against `key`'s `window` in this process alone, for when the
    shared cache cannot be reached. Each process takes only its share of `limit`
    (PROVIDER_QUOTA_PROCESSES processes share it), so that all of them together
    still stay under it. Returns the count scaled to the whole limit: `limit + 1`
    once this process's share is spent, for the caller to compare with `limit`."""
    share = max(1, limit // max(1, settings.PROVIDER_QUOTA_PROCESSES))
    with _local_lock:
        counted = (key, window)
        _local_counts[counted] = _local_counts.get(counted, 0) + amount
        for stale in [k for k in _local_counts if k[1] < window - 1]:
            del _local_counts[stale]
        used = _local_counts[counted]
    return limit + 1 if used > share else used


def local_window_release(key: str, window: int, amount: int) -> None:
    """Give back `amount` counted by `local_window_count` (a checkout that made no
    hold returns its seats)."""
    with _local_lock:
        counted = (key, window)
        if counted in _local_counts:
            _local_counts[counted] = max(0, _local_counts[counted] - amount)


class FailureLimiter:
    """Failures per client (failed API authentications...) counted in the shared
    cache in fixed windows of the limit's period: a client that has failed `calls`
    times in the current window is refused until the window ends.

    Only failures count, so a client that gets in is never slowed. If the cache
    cannot be reached the client is let through with a warning: this protects the
    service, and refusing everyone would be the outage it is there to prevent.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def _prefix(self, ident: str) -> str:
        return f"failures:{self.name}:{ident}"

    def _key(self, ident: str, window: int) -> str:
        return f"{self._prefix(ident)}:{window}"

    def retry_after(self, ident: str, limit: RateLimit | None) -> int:
        """Seconds `ident` must wait before trying again, 0 when it may try now."""
        key = self.current_key(ident, limit)
        if key is None:
            return 0
        try:
            failures = cache.get(key)
        except Exception:  # noqa: BLE001 - fail open, see the class docstring
            logger.warning("Failure limiter cache unreachable", exc_info=True)
            return 0
        return self.retry_after_from(failures, limit)

    def current_key(self, ident: str, limit: RateLimit | None) -> str | None:
        """The cache key of `ident`'s failures in the current window (None without a
        limit), for a caller that reads it with other keys in one round trip."""
        if limit is None:
            return None
        return self._key(ident, int(time.time() // limit.period_seconds))

    @staticmethod
    def retry_after_from(failures: int | None, limit: RateLimit | None) -> int:
        """retry_after, given the value read at current_key (None: none counted)."""
        if limit is None or (failures or 0) < limit.calls:
            return 0
        now = time.time()
        window = int(now // limit.period_seconds)
        return max(1, math.ceil((window + 1) * limit.period_seconds - now))

    def record(self, ident: str, limit: RateLimit | None) -> None:
        if limit is None:
            return
        try:
            window_count(self._prefix(ident), limit.period_seconds)
        except Exception:  # noqa: BLE001
            logger.warning("Failure limiter cache unreachable", exc_info=True)

    def reset(self, ident: str, limit: RateLimit | None) -> None:
        if limit is None:
            return
        window = int(time.time() // limit.period_seconds)
        cache.delete_many([self._key(ident, window - 1), self._key(ident, window)])


def window_allows(key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit against `key` in the current fixed window of `window_seconds`;
    False once more than `limit` hits were counted in it. Callers guard writes from
    clients nobody authenticated, so a cache that cannot be reached does not let
    them all through: this process counts its share of `limit` itself
    (`local_window_count`), which still bounds a flood."""
    try:
        count = window_count(f"limit:{key}", window_seconds).count
    except Exception:  # noqa: BLE001 - the cache is down: count in this process
        cache_unavailable(f"limit {key.partition(':')[0]}")
        window = int(time.time() // window_seconds)
        count = local_window_count(f"limit:{key}", window, 1, limit)
    return count <= limit
