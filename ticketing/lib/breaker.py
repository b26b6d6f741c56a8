"""A circuit breaker per external service, kept in the shared cache (see
`ticketing.lib.http`, which re-exports these names and builds breakers with
`breaker_for`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

from ticketing.lib.http_errors import CircuitOpen

logger = logging.getLogger("ticketing.lib.http")


class BreakerState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class BreakerAdmission:
    is_probe: bool
    failures_seen: int


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    state: str
    failures: int
    opened_at: float | None
    retry_in: float  # seconds until a probe may go through (0 unless open)


class CircuitBreaker:
    """Per-service breaker kept in the shared cache, so that every worker and every
    thread sees the same state.

    Closed: calls go through; each unavailable outcome counts a failure (within
    `reset_seconds` of the first), a success clears the count. At `threshold`
    failures it opens.
    Open: calls fail at once with CircuitOpen until `reset_seconds` have passed.
    Half-open: one caller at a time (claimed with an atomic cache add, held at most
    `probe_lease` seconds in case its process dies) probes; its success closes the
    breaker, its failure opens it again for another pause.
    Auth errors and rejections do not count: they say nothing about the service
    being up.
    """

    def __init__(
        self,
        name: str,
        *,
        threshold: int,
        reset_seconds: float,
        probe_lease: float | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        # The claim must outlive the slowest probe (timeouts, retries, rate-limit
        # wait), or a second probe joins the first.
        self.probe_lease = max(probe_lease or 0.0, reset_seconds, 1.0)
        prefix = f"http:breaker:{name}"
        self._failures_key = f"{prefix}:failures"
        self._opened_key = f"{prefix}:opened_at"
        self._probe_key = f"{prefix}:probe"

    def status(self) -> BreakerStatus:
        values = cache.get_many([self._failures_key, self._opened_key])
        failures = int(values.get(self._failures_key) or 0)
        opened_at = values.get(self._opened_key)
        if opened_at is None:
            return BreakerStatus(BreakerState.CLOSED, failures, None, 0.0)
        retry_in = opened_at + self.reset_seconds - time.time()
        if retry_in > 0:
            return BreakerStatus(BreakerState.OPEN, failures, opened_at, retry_in)
        return BreakerStatus(BreakerState.HALF_OPEN, failures, opened_at, 0.0)

    def admit(self) -> BreakerAdmission:
        """Raise CircuitOpen, or let the call go, saying whether it is the half-open
        probe and how many failures were counted when it went."""
        status = self.status()
        if status.state == BreakerState.CLOSED:
            return BreakerAdmission(is_probe=False, failures_seen=status.failures)
        if status.state == BreakerState.HALF_OPEN and cache.add(
            self._probe_key, 1, timeout=self.probe_lease
        ):
            return BreakerAdmission(is_probe=True, failures_seen=status.failures)
        raise CircuitOpen(
            f"{self.name} is failing; calls paused",
            retry_after=status.retry_in or self.reset_seconds,
        )

    def release_probe(self) -> None:
        """The probe ended without reaching the service: let the next call probe."""
        cache.delete(self._probe_key)

    def record_success(
        self, *, was_probe: bool, failures_seen: int | None = None
    ) -> None:
        """Clear the failure count. `failures_seen` (from `admit`) of 0 spares the
        cache round trip that reads the count: the usual success, with nothing to
        clear. A failure counted by another call meanwhile is then left for the next
        success to clear; it expires with its window anyway."""
        if not was_probe and failures_seen == 0:
            return
        if was_probe or cache.get(self._failures_key):
            cache.delete_many([self._failures_key, self._opened_key, self._probe_key])
            if was_probe:
                logger.info("Circuit for %s closed after a good probe", self.name)

    def record_failure(self, *, was_probe: bool) -> None:
        failures = self._count_failure()
        if was_probe:
            cache.set(self._opened_key, time.time(), timeout=self._open_timeout)
            cache.delete(self._probe_key)
            logger.warning("Circuit for %s opened again: the probe failed", self.name)
        # `add`, not `set`: calls already in flight when the breaker opened must not
        # push the pause back, nor drop the claim of a probe under way.
        elif failures >= self.threshold and cache.add(
            self._opened_key, time.time(), timeout=self._open_timeout
        ):
            logger.warning(
                "Circuit for %s opened after %d failures", self.name, failures
            )

    def reset(self) -> None:
        cache.delete_many([self._failures_key, self._opened_key, self._probe_key])

    @property
    def _open_timeout(self) -> float:
        # Kept well past the pause so that the half-open state can be seen.
        return max(1.0, self.reset_seconds) * 10

    def _count_failure(self) -> int:
        window = max(1.0, self.reset_seconds)
        cache.add(self._failures_key, 0, timeout=window)
        try:
            return cache.incr(self._failures_key)
        except ValueError:  # expired between add and incr
            cache.set(self._failures_key, 1, timeout=window)
            return 1
