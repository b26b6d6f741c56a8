"""Calling external HTTP APIs: one place for timeouts, retries, the circuit breaker,
the client-side rate limit and the call log.

Every platform client builds its calls on `ExternalApi`. What it guarantees:

- every request has a (connect, read) timeout;
- idempotent requests (GET) are retried by urllib3 on connection errors, read
  timeouts, 429 and 5xx, with exponential backoff plus jitter, honouring Retry-After
  up to a cap (a longer Retry-After ends the call; the caller gets it back in
  `ExternalUnavailable.retry_after` and tries again later);
- a circuit breaker per service, shared by every process through the cache, stops
  calling a service that keeps failing and lets one probe through after a pause;
- a fixed-window rate limit per API key, shared through the cache, keeps us under the
  service's documented limit by waiting (briefly) for the next window;
- one log line per call with service, endpoint, status, attempts and duration; never
  the query string or headers, which may carry credentials.

Failures are typed: `ExternalUnavailable` (retryable), `ExternalAuthError`,
`ExternalRejected` and `MalformedResponse`. A client maps a malformed body to
`MalformedResponse` rather than letting a KeyError escape.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache as django_cache
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ExternalError(Exception):
    """A call to an external service failed; `retryable` says whether later may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ExternalUnavailable(ExternalError):
    """Network error, timeout, 429 or 5xx, or the circuit is open: try again later."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CircuitOpen(ExternalUnavailable):
    """The breaker is open: no call was made."""


class ExternalRejected(ExternalError):
    """The service refused the request (a 4xx other than auth): do not retry as is."""


class ExternalAuthError(ExternalRejected):
    """401/403: the credentials are wrong, revoked or lack rights."""


class MalformedResponse(ExternalError):
    """The body was not what the service documents (bad JSON, missing fields)."""


# --- rate limits -----------------------------------------------------------------

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


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `calls` per `period_seconds`; parse with `RateLimit.parse("90/min")`."""

    calls: int
    period_seconds: int

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
            window = int(now // period)
            cache_key = f"http:rate:{self.key}:{window}"
            django_cache.add(cache_key, 0, timeout=period * 2)
            try:
                used = django_cache.incr(cache_key)
            except ValueError:  # evicted between add and incr: count from one
                django_cache.set(cache_key, 1, timeout=period * 2)
                used = 1
            if used <= self.limit.calls:
                return
            wait = (window + 1) * period - now + random.uniform(0, 0.05)
            if time.monotonic() + wait > deadline:
                raise ExternalUnavailable(
                    f"Client-side rate limit reached for {self.key}", retry_after=wait
                )
            time.sleep(wait)


# --- circuit breaker -----------------------------------------------------------------


class BreakerState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


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
    `reset_seconds`), a success clears the count. At `threshold` failures it opens.
    Open: calls fail at once with CircuitOpen until `reset_seconds` have passed.
    Half-open: one caller at a time (claimed with an atomic cache add) probes; its
    success closes the breaker, its failure opens it again for another pause.
    Auth errors and rejections do not count: they say nothing about the service
    being up.
    """

    def __init__(self, name: str, *, threshold: int, reset_seconds: float) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        prefix = f"http:breaker:{name}"
        self._failures_key = f"{prefix}:failures"
        self._opened_key = f"{prefix}:opened_at"
        self._probe_key = f"{prefix}:probe"

    def status(self) -> BreakerStatus:
        values = django_cache.get_many([self._failures_key, self._opened_key])
        failures = int(values.get(self._failures_key) or 0)
        opened_at = values.get(self._opened_key)
        if opened_at is None:
            return BreakerStatus(BreakerState.CLOSED, failures, None, 0.0)
        retry_in = opened_at + self.reset_seconds - time.time()
        if retry_in > 0:
            return BreakerStatus(BreakerState.OPEN, failures, opened_at, retry_in)
        return BreakerStatus(BreakerState.HALF_OPEN, failures, opened_at, 0.0)

    def before_call(self) -> bool:
        """Raise CircuitOpen, or return whether this call is the half-open probe."""
        status = self.status()
        if status.state == BreakerState.CLOSED:
            return False
        if status.state == BreakerState.HALF_OPEN and django_cache.add(
            self._probe_key, 1, timeout=max(1, int(self.reset_seconds))
        ):
            return True
        raise CircuitOpen(
            f"{self.name} is failing; calls paused",
            retry_after=status.retry_in or self.reset_seconds,
        )

    def record_success(self, *, was_probe: bool) -> None:
        if was_probe or django_cache.get(self._failures_key):
            django_cache.delete_many(
                [self._failures_key, self._opened_key, self._probe_key]
            )
            if was_probe:
                logger.info("Circuit for %s closed after a good probe", self.name)

    def record_failure(self, *, was_probe: bool) -> None:
        window = max(1, int(self.reset_seconds))
        django_cache.add(self._failures_key, 0, timeout=window)
        try:
            failures = django_cache.incr(self._failures_key)
        except ValueError:
            django_cache.set(self._failures_key, 1, timeout=window)
            failures = 1
        if was_probe or failures >= self.threshold:
            # Kept well past the pause so that the half-open state can be seen.
            django_cache.set(self._opened_key, time.time(), timeout=window * 10)
            django_cache.delete(self._probe_key)
            logger.warning(
                "Circuit for %s opened after %d failures", self.name, failures
            )

    def reset(self) -> None:
        django_cache.delete_many(
            [self._failures_key, self._opened_key, self._probe_key]
        )


def breaker_for(service: str) -> CircuitBreaker:
    return CircuitBreaker(
        service,
        threshold=settings.INTEGRATIONS_BREAKER_FAILURES,
        reset_seconds=settings.INTEGRATIONS_BREAKER_RESET_SECONDS,
    )


# --- sessions and calls ---------------------------------------------------------------


def _retry_policy() -> Retry:
    attempts = settings.INTEGRATIONS_HTTP_RETRIES
    return Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.INTEGRATIONS_HTTP_BACKOFF,
        backoff_jitter=settings.INTEGRATIONS_HTTP_BACKOFF,
        backoff_max=10,
        retry_after_max=settings.INTEGRATIONS_HTTP_RETRY_AFTER_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last response comes back and is mapped below
        raise_on_redirect=False,
    )


_sessions_lock = threading.Lock()


@cache
def _session(service: str) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=_retry_policy(),
        pool_connections=4,
        pool_maxsize=max(10, settings.INTEGRATIONS_SYNC_CONCURRENCY * 2),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "ticketing-sync/1"
    return session


def session_for(service: str) -> requests.Session:
    """One pooled session per service and process (thread-safe for our use: shared
    adapters and pools, per-call headers and params)."""
    with _sessions_lock:
        return _session(service)


def sessions_reset() -> None:
    """Forget the pooled sessions (tests change retry settings)."""
    with _sessions_lock:
        _session.cache_clear()


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ExternalApi:
    """Calls to one external service for one set of credentials."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        rate_key: str,
        rate_limit: RateLimit | None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.breaker = breaker_for(service)
        self.limiter = RateLimiter(
            f"{service}:{rate_key}",
            rate_limit,
            max_wait=settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT,
        )

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def get_json(
        self, path_or_url: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """GET and decode JSON. Raises the typed errors of this module."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        response = self._request("GET", url, params=params)
        try:
            return response.json()
        except ValueError as error:
            raise MalformedResponse(
                f"{self.service} answered {urlsplit(url).path} with a body that is "
                "not JSON",
                status=response.status_code,
            ) from error

    def _request(
        self, method: str, url: str, *, params: Mapping[str, Any] | None
    ) -> requests.Response:
        endpoint = urlsplit(url).path  # never the query: it may carry the key
        is_probe = self.breaker.before_call()
        self.limiter.acquire()
        started = time.monotonic()
        status: int | None = None
        attempts = 1
        try:
            response = session_for(self.service).request(
                method,
                url,
                params={**self.params, **(params or {})},
                headers=self.headers,
                timeout=settings.INTEGRATIONS_HTTP_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            self.breaker.record_failure(was_probe=is_probe)
            self._log(
                method, endpoint, None, attempts, started, error=type(error).__name__
            )
            raise ExternalUnavailable(
                f"{self.service} unreachable at {endpoint}: {type(error).__name__}"
            ) from error
        status = response.status_code
        retries = getattr(response.raw, "retries", None)
        if retries is not None:
            attempts += len(retries.history)
        self._log(method, endpoint, status, attempts, started)
        if status in RETRY_STATUSES:
            self.breaker.record_failure(was_probe=is_probe)
            raise ExternalUnavailable(
                f"{self.service} answered {status} at {endpoint}",
                status=status,
                retry_after=_retry_after_seconds(response),
            )
        self.breaker.record_success(was_probe=is_probe)
        if status in (401, 403):
            raise ExternalAuthError(
                f"{self.service} refused the credentials ({status})", status=status
            )
        if status >= 400 or status in (301, 302, 303, 307, 308):
            raise ExternalRejected(
                f"{self.service} answered {status} at {endpoint}", status=status
            )
        return response

    def _log(self, method, endpoint, status, attempts, started, *, error=None) -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields = {
            "service": self.service,
            "method": method,
            "endpoint": endpoint,
            "status": status,
            "attempts": attempts,
            "duration_ms": duration_ms,
        }
        if error:
            fields["error"] = error
        level = logging.INFO if status and status < 400 else logging.WARNING
        logger.log(
            level,
            "%s %s %s -> %s in %.1f ms (%d attempts)%s",
            self.service,
            method,
            endpoint,
            status if status is not None else "no response",
            duration_ms,
            attempts,
            f" [{error}]" if error else "",
            extra={"http_call": fields},
        )
