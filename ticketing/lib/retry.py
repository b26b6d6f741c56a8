"""The one retry policy: when to try again, and how long to wait.

Every loop that retries work (the outbox, stored webhooks, the HTTP client's own
retries of a GET) asks this module three things:

- is this failure worth another try? `is_retryable_status` / `is_retryable_error`:
  no answer at all (None, a timeout, a connection error), 429 or 5xx. Any other
  status says the request itself is wrong, and sending it again as is fails again;
- how long did the other side ask us to wait? `retry_after_seconds` reads a
  `Retry-After` header in both of its forms (delay-seconds and an HTTP date);
- how long do we wait before attempt n+1, and is there one? `RetryPolicy`:
  exponential backoff from `base`, capped at `cap`, with jitter that only ever
  shortens the wait (so the cap is a real bound and a herd of rows failed together
  spreads out), a Retry-After honoured up to the cap, and `max_attempts` after which
  the work is given up (dead, kept for a person to look at).

A Celery task that retries itself (`autoretry_for`) takes its options from a policy
too: `celery_retry_options(policy)`.

Kinds of work pick their policy (attempt limits differ: a partner webhook is worth
more tries than a platform hint that the next scheduled sync covers anyway).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import socket
import time
from dataclasses import dataclass

import requests

RETRYABLE_STATUSES = frozenset({429, *range(500, 600)})
_SECONDS = re.compile(r"\d+(\.\d+)?")


def is_retryable_status(status: int | None) -> bool:
    """No answer (None), 429 Too Many Requests, or any 5xx."""
    return status is None or status in RETRYABLE_STATUSES


def is_retryable_error(error: BaseException) -> bool:
    """A network failure: the request may not have arrived, or its answer was lost."""
    return isinstance(
        error,
        requests.ConnectionError
        | requests.Timeout
        | ConnectionError
        | TimeoutError
        | socket.timeout,
    )


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from `now` (a Unix time, default the clock):
    delay-seconds ("120", "1.5") or an HTTP date (a date in the past means now).
    None when absent or unreadable, so the caller falls back to its backoff."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are GMT; parsedate gives "-0000" dates no zone.
        moment = moment.replace(tzinfo=dt.UTC)
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait `base * 2**(attempts-1)` seconds after the `attempts`-th failure, at
    most `cap`, shortened by up to `jitter` (a fraction) at random; give up after
    `max_attempts` attempts in all (None: never)."""

    base: float
    cap: float
    max_attempts: int | None = 10
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError(f"A retry policy needs 0 < base <= cap: {self}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"Jitter is a fraction in [0, 1): {self}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"At least one attempt: {self}")

    def backoff(self, attempts: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after `attempts` (>= 1) failed attempts, in
        [(1 - jitter) * d, d] where d = min(cap, base * 2**(attempts - 1))."""
        exponent = max(0, attempts - 1)
        # 2**exponent overflows a float past ~1000 attempts; the cap is hit long before.
        delay = self.cap if exponent > 60 else min(self.cap, self.base * 2**exponent)
        draw = (rng or random).random()  # noqa: S311 - jitter, not a secret
        return delay * (1 - self.jitter * draw)

    def delay(
        self,
        attempts: int,
        *,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """The wait before the next attempt: the backoff, or the service's
        Retry-After when it asks for longer (honoured up to the cap)."""
        wait = self.backoff(attempts, rng=rng)
        if retry_after is not None and retry_after > wait:
            wait = min(retry_after, self.cap)
        return wait

    def gives_up(self, attempts: int) -> bool:
        """True when `attempts` attempts are all this kind of work gets."""
        return self.max_attempts is not None and attempts >= self.max_attempts

    def next_attempt_at(
        self, attempts: int, *, now: dt.datetime, retry_after: float | None = None
    ) -> dt.datetime | None:
        """When to try again after `attempts` failed attempts; None: give up."""
        if self.gives_up(attempts):
            return None
        return now + dt.timedelta(seconds=self.delay(attempts, retry_after=retry_after))


# The policies of the loops that retry stored work. Minutes apart at first, hours at
# most: these run from beat, long after any in-call retry has given up.
DEFAULT = RetryPolicy(base=30, cap=3600, max_attempts=10)
# A payment event is never dropped (a lost "succeeded" is a lost sale): retried until
# processed, the cap keeping it to four tries a day once it has failed for long.
PAYMENT_WEBHOOKS = RetryPolicy(base=120, cap=6 * 3600, max_attempts=None)
# A platform webhook is a hint that the next scheduled sync also covers.
PLATFORM_WEBHOOKS = RetryPolicy(base=60, cap=3600, max_attempts=8)
# A Celery task's own retries of a call that failed for a passing reason (storage,
# a provider briefly down): seconds apart, a few tries; beat's sweeps take over after.
TASK_RETRIES = RetryPolicy(base=2, cap=600, max_attempts=6)


def celery_retry_options(policy: RetryPolicy) -> dict:
    """`shared_task(autoretry_for=..., **celery_retry_options(policy))`: Celery's own
    backoff set from the policy. Celery waits `base * 2**retries` capped at `cap`,
    the policy's backoff; its jitter is a draw in [0, wait] (it too only shortens a
    wait, more than the policy's); `max_attempts` counts the first try, Celery's
    `max_retries` does not."""
    return {
        "retry_backoff": policy.base,
        "retry_backoff_max": int(policy.cap),
        "retry_jitter": policy.jitter > 0,
        "max_retries": None if policy.max_attempts is None else policy.max_attempts - 1,
    }
