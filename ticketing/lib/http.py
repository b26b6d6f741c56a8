"""Calling external HTTP APIs: one place for timeouts, retries, the circuit breaker,
the client-side rate limit and the call log.

Every platform client builds its calls on `ExternalApi`. What it guarantees:

- every request has a (connect, read) timeout;
- idempotent requests (GET) are retried by urllib3 on connection errors, read
  timeouts, 429 and 5xx, with exponential backoff plus jitter, honouring Retry-After
  up to a cap (a longer Retry-After ends the call at once; the caller gets it back in
  `ExternalUnavailable.retry_after` and tries again later); retries count against
  the rate limit;
- a circuit breaker per service, shared by every process through the cache, stops
  calling a service that keeps failing and lets one probe through after a pause
  (`ticketing.lib.breaker`);
- a fixed-window rate limit per rate key, shared through the cache, keeps us under
  the service's documented limit by waiting (briefly) for the next window
  (`ticketing.lib.ratelimit`);
- credentials go only to the service's own origin, and no cookie is kept between
  calls (the pooled session is shared by every connection to the service);
- one log line per call with service, endpoint, status, attempts and duration; never
  the query string or headers, which may carry credentials (urllib3's own log lines
  are stripped of query strings, and errors do not chain the requests exception,
  whose message holds the full URL).

Failures are typed: `ExternalUnavailable` (retryable), `ExternalAuthError`,
`ExternalRejected` and `MalformedResponse`. A client maps a malformed body to
`MalformedResponse` rather than letting a KeyError escape.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from functools import cache
from http.cookiejar import DefaultCookiePolicy
from itertools import takewhile
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from ticketing import metrics
from ticketing.lib.breaker import BreakerState, BreakerStatus, CircuitBreaker
from ticketing.lib.http_errors import (
    CircuitOpen,
    ExternalAuthError,
    ExternalError,
    ExternalRejected,
    ExternalTimeout,
    ExternalUnavailable,
    MalformedResponse,
)
from ticketing.lib.ratelimit import RateLimit, RateLimiter
from ticketing.lib.retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    is_retryable_status,
    retry_after_seconds,
)

__all__ = [
    "BreakerState",
    "BreakerStatus",
    "CircuitBreaker",
    "CircuitOpen",
    "ExternalApi",
    "ExternalAuthError",
    "ExternalError",
    "ExternalRejected",
    "ExternalTimeout",
    "ExternalUnavailable",
    "MalformedResponse",
    "RateLimit",
    "RateLimiter",
    "breaker_for",
    "session_for",
    "sessions_reset",
]

logger = logging.getLogger(__name__)

RETRY_STATUSES = RETRYABLE_STATUSES  # the one rule: 429 and 5xx
BACKOFF_MAX = 10


class _Retry(Retry):
    """urllib3's Retry with the waits of our one policy (`ticketing.lib.retry`): its
    backoff and jitter between attempts, its Retry-After parser. A Retry-After over
    `retry_after_max` ends the call at once: waiting the cap and asking again only
    earns another 429. An unreadable Retry-After falls back to the backoff instead of
    raising. When retries run out on a network error, the MaxRetryError says how many
    attempts were made, which requests would otherwise lose."""

    def get_backoff_time(self) -> float:
        # Failures since the last redirect, as urllib3 counts them.
        failures = sum(
            1
            for _ in takewhile(
                lambda entry: entry.redirect_location is None, reversed(self.history)
            )
        )
        if failures < 1 or self.backoff_factor <= 0:
            return 0.0
        cap = max(self.backoff_max, self.backoff_factor)
        return RetryPolicy(base=self.backoff_factor, cap=cap).backoff(failures)

    def get_retry_after(self, response) -> float | None:
        seconds = retry_after_seconds(response.headers.get("Retry-After"))
        return None if seconds is None else min(seconds, self.retry_after_max)

    def increment(
        self,
        method=None,
        url=None,
        response=None,
        error=None,
        _pool=None,
        _stacktrace=None,
    ) -> _Retry:
        if response is not None and self.respect_retry_after_header:
            seconds = retry_after_seconds(response.headers.get("Retry-After"))
            if seconds is not None and seconds > self.retry_after_max:
                # With raise_on_status off, urllib3 hands this response back.
                raise MaxRetryError(_pool, url, ResponseError("Retry-After over cap"))
        try:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exhausted:
            exhausted.attempts = len(self.history) + 1
            raise


def _retry_policy(retries: int | None = None) -> Retry:
    attempts = settings.INTEGRATIONS_HTTP_RETRIES if retries is None else retries
    return _Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.INTEGRATIONS_HTTP_BACKOFF,
        backoff_max=BACKOFF_MAX,
        retry_after_max=settings.INTEGRATIONS_HTTP_RETRY_AFTER_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last response comes back and is mapped below
        raise_on_redirect=False,
    )


def _longest_call_seconds() -> float:
    """A bound on one call: rate-limit wait, every attempt timing out, every wait
    between attempts at its cap."""
    timeout = settings.INTEGRATIONS_HTTP_TIMEOUT
    per_attempt = sum(timeout) if isinstance(timeout, tuple | list) else timeout
    retries = settings.INTEGRATIONS_HTTP_RETRIES
    longest_wait = max(settings.INTEGRATIONS_HTTP_RETRY_AFTER_MAX, BACKOFF_MAX)
    return (
        settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT
        + (retries + 1) * per_attempt
        + retries * longest_wait
    )


def breaker_for(service: str) -> CircuitBreaker:
    return CircuitBreaker(
        service,
        threshold=settings.INTEGRATIONS_BREAKER_FAILURES,
        reset_seconds=settings.INTEGRATIONS_BREAKER_RESET_SECONDS,
        probe_lease=_longest_call_seconds(),
    )


# --- sessions ----------------------------------------------------------------------


class _WithoutQueryStrings(logging.Filter):
    """urllib3 logs request URLs, query included, e.g. a WARNING on every retried
    connection error; our query strings carry API keys."""

    _query = re.compile(r"\?[^\s'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._query.sub("?[…]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


_without_query_strings = _WithoutQueryStrings()
for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_without_query_strings)

_sessions_lock = threading.Lock()


@cache
def _environment_of(scheme: str, netloc: str) -> tuple[dict[str, str], str | None]:
    """The proxies the environment gives an origin, and its CA bundle variable."""
    proxies = requests.utils.get_environ_proxies(f"{scheme}://{netloc}/")
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return proxies, bundle


class _Session(requests.Session):
    """requests reads the proxy variables on every call, walking the whole
    environment twice (~0.3 ms of CPU a call, a tenth of a sync's call); a running
    process's environment does not change, so this reads it once per origin (what
    it finds depends only on the host and port: NO_PROXY)."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if self.trust_env and not (proxies or {}).get("no_proxy"):
            env_proxies, bundle = _environment_of(*_origin(url))
            proxies = {} if proxies is None else proxies
            for name, value in env_proxies.items():
                proxies.setdefault(name, value)
            if verify is True or verify is None:
                verify = bundle or verify
            return {
                "proxies": merge_setting(proxies, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert),
            }
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


@cache
def _session(service: str, retries: int | None) -> requests.Session:
    session = _Session()
    adapter = HTTPAdapter(
        max_retries=_retry_policy(retries),
        pool_connections=4,
        pool_maxsize=max(10, settings.INTEGRATIONS_SYNC_CONCURRENCY * 2),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "ticketing-sync/1"
    # One session serves every connection to the service: a cookie set for one
    # organiser's credentials must not ride along with another's.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def session_for(service: str, *, retries: int | None = None) -> requests.Session:
    """One pooled session per service and process (thread-safe for our use: shared
    adapters and pools, per-call headers and params, no cookies). `retries`: of a
    GET, by urllib3 (default INTEGRATIONS_HTTP_RETRIES); other methods never are."""
    with _sessions_lock:
        return _session(service, retries)


def sessions_reset() -> None:
    """Forget the pooled sessions (tests change retry settings)."""
    with _sessions_lock:
        _session.cache_clear()
        _environment_of.cache_clear()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _timed_out(error: requests.RequestException) -> bool:
    if isinstance(error, requests.Timeout):
        return True
    exhausted = next(
        (arg for arg in error.args if isinstance(arg, MaxRetryError)), None
    )
    # requests reports a read timeout that used up urllib3's retries as a
    # ConnectionError; the timeout is its reason.
    return exhausted is not None and isinstance(
        exhausted.reason, Urllib3Timeout | TimeoutError
    )


def _failure_details(error: requests.RequestException) -> tuple[int, str]:
    """Attempts made and a description free of the URL (which holds the query)."""
    exhausted = next(
        (arg for arg in error.args if isinstance(arg, MaxRetryError)), None
    )
    reason = type(error).__name__
    if exhausted is None:
        return 1, reason
    if exhausted.reason is not None:
        reason = f"{reason} ({type(exhausted.reason).__name__})"
    return getattr(exhausted, "attempts", 1), reason


# --- calls -------------------------------------------------------------------------


class ExternalApi:
    """Calls to one external service for one set of credentials.

    `timeout` defaults to INTEGRATIONS_HTTP_TIMEOUT, `retries` (of a GET) to
    INTEGRATIONS_HTTP_RETRIES; a caller inside a web request passes `retries=0`
    (surface the error, let the task retry)."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        rate_key: str,
        rate_limit: RateLimit | None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        retries: int | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.timeout = timeout
        self.retries = retries
        self.breaker = breaker_for(service)
        self.limiter = RateLimiter(
            f"{service}:{rate_key}",
            rate_limit,
            max_wait=settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT,
        )

    @property
    def session(self) -> requests.Session:
        return session_for(self.service, retries=self.retries)

    def url(self, path_or_url: str) -> str:
        """A path under the base URL, or a full URL on the service's own origin (a
        next-page link, a webhook's resource): the credentials go with every call."""
        if "://" not in path_or_url:
            return urljoin(self.base_url, path_or_url.lstrip("/"))
        if _origin(path_or_url) != _origin(self.base_url):
            raise ExternalRejected(
                f"{self.service}: not sending credentials to "
                f"{urlsplit(path_or_url).netloc or 'an unknown host'}"
            )
        return path_or_url

    def get_json(
        self, path_or_url: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """GET and decode JSON. Raises the typed errors of this module."""
        url = self.url(path_or_url)
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
        response = self.send(method, url, params=params)
        status = response.status_code
        endpoint = urlsplit(url).path
        if is_retryable_status(status):
            raise ExternalUnavailable(
                f"{self.service} answered {status} at {endpoint}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise ExternalAuthError(
                f"{self.service} refused the credentials ({status})", status=status
            )
        if status >= 300:  # redirects are not followed: they would carry the key
            raise ExternalRejected(
                f"{self.service} answered {status} at {endpoint}", status=status
            )
        return response

    def send(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One call through the breaker and the rate limit, with the timeout, the
        retries of a GET and a log line; the answer whatever its status (a 429 or
        5xx counts against the breaker). `headers` are added to the client's own
        for this call (an idempotency key); `data` is a form body. Raises
        ExternalUnavailable when no answer came (ExternalTimeout for a timeout),
        CircuitOpen while the breaker is open, ExternalRejected for a URL off the
        service's origin."""
        url = self.url(path_or_url)
        endpoint = urlsplit(url).path  # never the query: it may carry the key
        admission = self.breaker.admit()
        is_probe = admission.is_probe
        settled = False
        try:
            self.limiter.acquire()
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    params={**self.params, **(params or {})},
                    json=json,
                    data=data,
                    headers={**self.headers, **(headers or {})},
                    timeout=self.timeout or settings.INTEGRATIONS_HTTP_TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                attempts, reason = _failure_details(error)
                self.limiter.charge(attempts - 1)
                self.breaker.record_failure(was_probe=is_probe)
                settled = True
                self._log(method, endpoint, None, attempts, started, error=reason)
                unavailable = (
                    ExternalTimeout if _timed_out(error) else ExternalUnavailable
                )
                # Not chained: the requests exception's message holds the full URL.
                raise unavailable(
                    f"{self.service} unreachable at {endpoint}: {reason}"
                ) from None
            status = response.status_code
            retries = getattr(response.raw, "retries", None)
            attempts = 1 + (len(retries.history) if retries is not None else 0)
            self.limiter.charge(attempts - 1)
            self._log(method, endpoint, status, attempts, started)
            if is_retryable_status(status):
                self.breaker.record_failure(was_probe=is_probe)
            else:
                self.breaker.record_success(
                    was_probe=is_probe, failures_seen=admission.failures_seen
                )
            settled = True
        finally:
            if is_probe and not settled:
                # The probe never reached the service (the rate limit refused to
                # wait, or a bug): free the claim now rather than after its lease.
                self.breaker.release_probe()
        return response

    def _log(self, method, endpoint, status, attempts, started, *, error=None) -> None:
        elapsed = time.monotonic() - started
        metrics.external_call_observed(
            self.service,
            elapsed,
            "unreachable" if error else (f"http_{status}" if status >= 400 else None),
        )
        duration_ms = round(elapsed * 1000, 1)
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
