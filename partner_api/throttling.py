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

    def undo(self, current_key: str) -> None:
        if self._redis is not None:
            self._redis.decr(cache.make_key(current_key))
        else:
            cache.decr(current_key)


class SlidingWindowThrottle(BaseThrottle):
    """Subclasses set `scope` (a key of DEFAULT_THROTTLE_RATES) and `get_ident`."""

    scope = ""
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    _wait: float | None = None

    def get_ident(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        parsed = parse_rate(self.THROTTLE_RATES.get(self.scope))
        ident = self.get_ident(request, view)
        if parsed is None or ident is None:
            return True
        limit, duration = parsed
        now = time.time()
        window = int(now // duration)
        elapsed = now - window * duration
        base = f"throttle:{self.scope}:{ident}:{duration}"
        current_key = f"{base}:{window}"
        previous_key = f"{base}:{window - 1}"
        counter = _Counter()
        try:
            current, previous = counter.hit(current_key, previous_key, 2 * duration)
            estimate = previous * (duration - elapsed) / duration + current
            if estimate <= limit:
                return True
            # A refused request does not count: a client that waits as told gets in.
            counter.undo(current_key)
        except Exception:  # noqa: BLE001 - any cache failure: fail open, see above
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
