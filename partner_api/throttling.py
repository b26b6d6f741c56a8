"""A request throttle counted in the shared cache with one atomic round trip.

DRF's SimpleRateThrottle keeps a list of every request time in the cache, reads it,
trims it and writes it back. Two workers doing that at once both pass (the count is
lost), and at a high limit the list is thousands of floats pickled twice per request.
This one keeps two integers per client instead: the counts of the current and the
previous fixed window. Its estimate of the last `duration` seconds is the current
count plus the previous count weighted by how much of the previous window is still
inside the last `duration` seconds (the "sliding window counter"). The count is an
atomic INCR, so concurrent requests never pass together over the limit.

If the cache cannot be reached, requests are let through and a warning is logged:
the throttle protects the service, and refusing every request would be the outage it
is there to prevent.
"""

from __future__ import annotations

import logging
import math
import time
from typing import NamedTuple

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "600/min" -> (600, 60); None or "" -> None (no limit). DRF's notation."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), _DURATIONS[period.strip()[:1].lower()]


def seconds_until_allowed(
    limit: int, current: int, previous: int, elapsed: float, duration: int
) -> float:
    """How long until one more request fits, given the window counts *without* it."""
    # Inside this window the estimate is previous * (1 - e/d) + current + 1.
    if current + 1 <= limit:
        if previous == 0:
            return 0.0
        fraction = 1 - (limit - 1 - current) / previous
        return max(0.0, fraction * duration - elapsed)
    # From the next window on, this window's count is the one that fades.
    fraction = max(0.0, 1 - (limit - 1) / current)
    return (duration - elapsed) + fraction * duration


class _Counter:
    """Window counts in Redis (one pipelined round trip) or, for the demo's local
    memory cache, through the cache API."""

    def __init__(self) -> None:
        client = getattr(cache, "client", None)
        self._redis = client.get_client(write=True) if client else None

    def hit(self, current_key: str, previous_key: str, ttl: int) -> tuple[int, int]:
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(cache.make_key(current_key))
            pipe.expire(cache.make_key(current_key), ttl)
            pipe.get(cache.make_key(previous_key))
            current, _expire, previous = pipe.execute()
            return int(current), int(previous or 0)
        cache.add(current_key, 0, ttl)
        return cache.incr(current_key), cache.get(previous_key) or 0

    def hit_and_read(
        self, current_key: str, previous_key: str, ttl: int, reads: list[str]
    ) -> tuple[int, int, dict]:
        """hit(), and the cache values of `reads` (absent ones left out, as
        cache.get_many does) in the same round trip."""
        if self._redis is None:
            current, previous = self.hit(current_key, previous_key, ttl)
            return current, previous, cache.get_many(reads)
        pipe = self._redis.pipeline(transaction=False)
        for name in reads:
            pipe.get(cache.make_key(name))
        pipe.incr(cache.make_key(current_key))
        pipe.expire(cache.make_key(current_key), ttl)
        pipe.get(cache.make_key(previous_key))
        *values, current, _expire, previous = pipe.execute()
        decode = cache.client.decode
        found = {
            n: decode(v) for n, v in zip(reads, values, strict=True) if v is not None
        }
        return int(current), int(previous or 0), found

    def undo(self, current_key: str) -> None:
        if self._redis is not None:
            self._redis.decr(cache.make_key(current_key))
        else:
            cache.decr(current_key)


class Window(NamedTuple):
    limit: int
    duration: int
    elapsed: float  # seconds into the current window
    current_key: str
    previous_key: str


class Counted(NamedTuple):
    """A request counted ahead of the throttle (count_and_read)."""

    scope: str
    ident: str
    window: Window
    current: int
    previous: int


class SlidingWindowThrottle(BaseThrottle):
    """Subclasses set `scope` (a key of DEFAULT_THROTTLE_RATES) and `get_ident`."""

    scope = ""
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    _wait: float | None = None

    def get_ident(self, request, view) -> str | None:
        raise NotImplementedError

    def window(self, ident: str) -> Window | None:
        """Where this request of `ident` is counted; None when there is no limit."""
        parsed = parse_rate(self.THROTTLE_RATES.get(self.scope))
        if parsed is None:
            return None
        limit, duration = parsed
        now = time.time()
        window = int(now // duration)
        base = f"throttle:{self.scope}:{ident}:{duration}"
        return Window(
            limit,
            duration,
            now - window * duration,
            f"{base}:{window}",
            f"{base}:{window - 1}",
        )

    def count_and_read(self, request, ident: str, reads: list[str]) -> dict:
        """Count this request now, with the cache keys `reads` read in the same round
        trip (authentication's), and leave the counts on `request` for
        allow_request. Returns the values read."""
        window = self.window(ident)
        if window is None:
            return cache.get_many(reads)
        current, previous, found = _Counter().hit_and_read(
            window.current_key, window.previous_key, 2 * window.duration, reads
        )
        request.throttle_counted = Counted(self.scope, ident, window, current, previous)
        return found

    @staticmethod
    def uncount(request) -> None:
        """Take back a count_and_read count of a request refused before the
        throttle decided (bad key, missing scope): those never counted."""
        counted = getattr(request, "throttle_counted", None)
        if counted is None:
            return
        request.throttle_counted = None
        try:
            _Counter().undo(counted.window.current_key)
        except Exception:  # noqa: BLE001 - the window expires it anyway
            logger.warning("Throttle cache unreachable", exc_info=True)

    def allow_request(self, request, view) -> bool:
        ident = self.get_ident(request, view)
        if ident is None:
            return True
        counted = getattr(request, "throttle_counted", None)
        if counted is not None and (counted.scope, counted.ident) == (
            self.scope,
            ident,
        ):
            window, current, previous = (
                counted.window,
                counted.current,
                counted.previous,
            )
            counter = _Counter()
        else:
            window = self.window(ident)
            if window is None:
                return True
            counter = _Counter()
            try:
                current, previous = counter.hit(
                    window.current_key, window.previous_key, 2 * window.duration
                )
            except Exception:  # noqa: BLE001 - any cache failure: fail open, see above
                logger.warning(
                    "Throttle cache unreachable; request let through", exc_info=True
                )
                return True
        limit, duration, elapsed = window.limit, window.duration, window.elapsed
        estimate = previous * (duration - elapsed) / duration + current
        if estimate <= limit:
            return True
        # A refused request does not count: a client that waits as told gets in.
        try:
            counter.undo(window.current_key)
        except Exception:  # noqa: BLE001 - fail open, as for the count
            logger.warning(
                "Throttle cache unreachable; request let through", exc_info=True
            )
            return True
        self._wait = seconds_until_allowed(
            limit, current - 1, previous, elapsed, duration
        )
        return False

    def wait(self) -> float | None:
        return None if self._wait is None else max(1, math.ceil(self._wait))
