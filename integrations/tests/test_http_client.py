"""The shared external-HTTP client against a real local server with injected faults:
retries, typed errors, circuit breaker, rate limit and the call log.

Breakers and rate windows live in the shared Redis cache, so every test uses its own
service name. The conftest fixture makes calls fast: read timeout 0.5 s, backoff
0.01 s, 2 retries, Retry-After capped at 2 s."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from uuid import uuid4

import pytest

from integrations.tests.fakes.base import FakePlatform, Reply, Request
from ticketing.lib.http import (
    BreakerState,
    CircuitOpen,
    ExternalApi,
    ExternalAuthError,
    ExternalRejected,
    ExternalUnavailable,
    MalformedResponse,
    RateLimit,
    RateLimiter,
)

RESET = 0.3  # breaker pause in these tests


class EchoPlatform(FakePlatform):
    """`/api/status/<code>` answers that status (with `?retry_after=` as Retry-After),
    `/api/cookie` sets a cookie, anything else echoes the path and query."""

    name = "echo"

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[1:2] == ["status"]:
            headers = {}
            if "retry_after" in request.query:
                headers["Retry-After"] = request.query["retry_after"]
            return Reply(int(parts[2]), {"error": parts[2]}, headers)
        if parts[1:2] == ["cookie"]:
            return Reply(200, {"ok": True}, {"Set-Cookie": "session=abc; Path=/"})
        return Reply(200, {"ok": True, "path": request.path, "query": request.query})


@pytest.fixture
def fake():
    platform = EchoPlatform().start()
    yield platform
    platform.stop()


@pytest.fixture
def service():
    return f"svc-{uuid4().hex[:8]}"


def make_api(fake, service, *, rate_limit=None, headers=None, params=None):
    return ExternalApi(
        service=service,
        base_url=f"{fake.url}/api",
        rate_key="test",
        rate_limit=rate_limit,
        headers=headers,
        params=params,
    )


@pytest.fixture
def api(fake, service):
    return make_api(fake, service)


@pytest.fixture
def breaker_settings(settings):
    settings.INTEGRATIONS_BREAKER_FAILURES = 3
    settings.INTEGRATIONS_BREAKER_RESET_SECONDS = RESET
    return settings


@pytest.fixture
def guarded_api(fake, service, breaker_settings):
    """An ExternalApi reads the breaker settings when built: after they are set."""
    return make_api(fake, service)


def timed(call, *args):
    started = time.monotonic()
    try:
        return call(*args), time.monotonic() - started
    except Exception as error:
        error.elapsed = time.monotonic() - started
        raise


def away_from_window_end(period: float, margin: float) -> None:
    """Wait, if need be, so that the next calls fall in one rate-limit window."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.01)


# --- retries -----------------------------------------------------------------------


def test_a_500_then_a_200_returns_the_data(fake, api):
    fake.fail_next("500")

    assert api.get_json("items", {"page": "2"}) == {
        "ok": True,
        "path": "/api/items",
        "query": {"page": "2"},
    }
    assert [r.status for r in fake.calls()] == [500, 200]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_a_5xx_on_every_attempt_is_unavailable(fake, api, settings, kind):
    fake.fail_always(kind)

    with pytest.raises(ExternalUnavailable) as raised:
        api.get_json("items")

    assert raised.type is ExternalUnavailable
    assert raised.value.status == int(kind)
    assert raised.value.retryable
    assert len(fake.calls()) == 1 + settings.INTEGRATIONS_HTTP_RETRIES


def test_a_429_waits_for_retry_after_then_succeeds(fake, api):
    fake.retry_after = 1
    fake.fail_next("429")

    data, elapsed = timed(api.get_json, "items")

    assert data["ok"] is True
    assert elapsed >= 0.95
    assert len(fake.calls()) == 2


def test_a_429_on_every_attempt_surfaces_the_last_retry_after(fake, api, settings):
    fake.retry_after = 1
    fake.fail_always("429")

    with pytest.raises(ExternalUnavailable) as raised:
        timed(api.get_json, "items")

    assert raised.value.status == 429
    assert raised.value.retry_after == 1.0
    assert len(fake.calls()) == 1 + settings.INTEGRATIONS_HTTP_RETRIES
    assert 2 * 0.95 <= raised.value.elapsed < 2 + 1


def test_a_retry_after_over_the_cap_ends_the_call_at_once(fake, api, settings):
    """Waiting the cap and asking again would only earn another 429: the caller gets
    the whole Retry-After back instead."""
    fake.retry_after = 30
    fake.fail_always("429")

    with pytest.raises(ExternalUnavailable) as raised:
        timed(api.get_json, "items")

    assert raised.value.status == 429
    assert raised.value.retry_after == 30.0
    assert raised.value.elapsed < settings.INTEGRATIONS_HTTP_RETRY_AFTER_MAX
    assert len(fake.calls()) == 1


def test_a_retry_after_given_as_a_date_is_understood(fake, api):
    in_a_minute = formatdate(time.time() + 60, usegmt=True)

    with pytest.raises(ExternalUnavailable) as raised:
        api.get_json("status/503", {"retry_after": in_a_minute})

    assert raised.value.status == 503
    assert 55 < raised.value.retry_after <= 60
    assert len(fake.calls()) == 1  # over the cap: not retried


def test_an_unreadable_retry_after_falls_back_to_the_backoff(fake, api, settings):
    with pytest.raises(ExternalUnavailable) as raised:
        api.get_json("status/503", {"retry_after": "soon"})

    assert raised.value.status == 503
    assert raised.value.retry_after is None
    assert len(fake.calls()) == 1 + settings.INTEGRATIONS_HTTP_RETRIES


def test_a_read_timeout_is_retried(fake, api):
    fake.fail_next("timeout")

    data, elapsed = timed(api.get_json, "items")

    assert data["ok"] is True
    assert len(fake.calls()) == 2
    assert 0.5 <= elapsed < 1.2


def test_read_timeouts_on_every_attempt_are_unavailable(fake, api, settings):
    fake.fail_always("timeout")

    with pytest.raises(ExternalUnavailable) as raised:
        timed(api.get_json, "items")

    attempts = 1 + settings.INTEGRATIONS_HTTP_RETRIES
    assert raised.value.status is None
    assert len(fake.calls()) == attempts
    assert attempts * 0.5 <= raised.value.elapsed < attempts * 0.5 + 1


def test_a_reset_connection_is_retried(fake, api, settings):
    fake.fail_next("reset")
    assert api.get_json("items")["ok"] is True
    assert len(fake.calls()) == 2

    fake.fail_always("reset")
    with pytest.raises(ExternalUnavailable):
        api.get_json("items")
    assert len(fake.calls()) == 2 + 1 + settings.INTEGRATIONS_HTTP_RETRIES


def test_a_refused_connection_is_unavailable(service):
    stopped = EchoPlatform().start()
    stopped.stop()
    api = make_api(stopped, service)

    with pytest.raises(ExternalUnavailable) as raised:
        timed(api.get_json, "items")

    assert raised.value.status is None
    assert raised.value.elapsed < 1


# --- refusals and bad bodies ---------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 422, 302])
def test_a_refusal_is_rejected_without_retry(fake, api, status):
    with pytest.raises(ExternalRejected) as raised:
        api.get_json(f"status/{status}")

    assert raised.type is ExternalRejected
    assert raised.value.status == status
    assert not raised.value.retryable
    assert len(fake.calls()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_auth_error(fake, api, status):
    with pytest.raises(ExternalAuthError) as raised:
        api.get_json(f"status/{status}")

    assert raised.value.status == status
    assert len(fake.calls()) == 1


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_a_body_that_is_not_json_is_malformed(fake, api, kind):
    fake.fail_next(kind)

    with pytest.raises(MalformedResponse) as raised:
        api.get_json("items")

    assert raised.value.status == 200
    assert len(fake.calls()) == 1


def test_credentials_only_go_to_the_service_origin(fake, api):
    for url in (
        "https://attacker.example/api/items",
        fake.url.replace("127.0.0.1", "localhost") + "/api/items",
    ):
        with pytest.raises(ExternalRejected):
            api.get_json(url)
    assert fake.calls() == []

    assert api.get_json(f"{fake.url}/api/next?page=3")["query"] == {"page": "3"}


def test_no_cookie_is_carried_between_calls(fake, service):
    """The pooled session is shared by every connection to a service."""
    make_api(fake, service, headers={"x-api-key": "one"}).get_json("cookie")
    make_api(fake, service, headers={"x-api-key": "two"}).get_json("items")

    assert "cookie" not in fake.calls("items")[0].headers


# --- circuit breaker ----------------------------------------------------------------


def open_breaker(fake, api):
    fake.fail_always("500")
    for _ in range(3):
        with pytest.raises(ExternalUnavailable) as raised:
            api.get_json("items")
        assert not isinstance(raised.value, CircuitOpen)
    fake.clear_faults()


def test_failures_open_the_breaker_and_calls_stop(fake, guarded_api):
    open_breaker(fake, guarded_api)
    made = len(fake.calls())

    status = guarded_api.breaker.status()
    assert status.state == BreakerState.OPEN
    assert status.failures == 3
    assert time.time() - 2 < status.opened_at <= time.time()
    assert 0 < status.retry_in <= RESET

    with pytest.raises(CircuitOpen) as raised:
        guarded_api.get_json("items")
    assert raised.value.retryable
    assert 0 < raised.value.retry_after <= RESET
    assert len(fake.calls()) == made


def test_a_good_probe_closes_the_breaker(fake, guarded_api):
    open_breaker(fake, guarded_api)
    made = len(fake.calls())
    time.sleep(RESET)

    status = guarded_api.breaker.status()
    assert status.state == BreakerState.HALF_OPEN
    assert status.retry_in == 0
    assert status.opened_at is not None

    assert guarded_api.get_json("items")["ok"] is True
    assert len(fake.calls()) == made + 1
    status = guarded_api.breaker.status()
    assert (status.state, status.failures, status.opened_at, status.retry_in) == (
        BreakerState.CLOSED,
        0,
        None,
        0,
    )


def test_a_failed_probe_reopens_the_breaker_at_once(fake, guarded_api):
    open_breaker(fake, guarded_api)
    time.sleep(RESET)
    fake.fail_always("503")

    with pytest.raises(ExternalUnavailable) as raised:
        guarded_api.get_json("items")
    assert not isinstance(raised.value, CircuitOpen)  # the probe went out

    status = guarded_api.breaker.status()
    assert status.state == BreakerState.OPEN
    assert status.retry_in > RESET / 2
    made = len(fake.calls())
    with pytest.raises(CircuitOpen):
        guarded_api.get_json("items")
    assert len(fake.calls()) == made


def test_refusals_do_not_count_as_failures(fake, guarded_api):
    for path in ["status/404", "status/401", "status/403"] * 2:
        with pytest.raises(ExternalRejected):
            guarded_api.get_json(path)

    status = guarded_api.breaker.status()
    assert (status.state, status.failures) == (BreakerState.CLOSED, 0)


def test_a_success_clears_the_failure_count(fake, guarded_api):
    for path in ["status/500", "status/500", "items", "status/500", "status/500"]:
        try:
            guarded_api.get_json(path)
        except ExternalUnavailable:
            pass

    status = guarded_api.breaker.status()
    assert (status.state, status.failures) == (BreakerState.CLOSED, 2)


def test_a_failure_counted_during_a_success_is_cleared_by_the_next_one(
    fake, guarded_api
):
    """A success that saw no failures when it went skips the read of the count, so a
    failure another call counted meanwhile survives it, until the next success."""
    breaker = guarded_api.breaker
    in_flight = breaker.admit()
    assert in_flight.failures_seen == 0
    breaker.record_failure(was_probe=False)  # another call, answered 503 meanwhile

    breaker.record_success(was_probe=False, failures_seen=in_flight.failures_seen)
    assert breaker.status().failures == 1

    assert guarded_api.get_json("items")["ok"] is True
    assert breaker.status().failures == 0


def test_a_refused_connection_counts_as_a_failure(service, breaker_settings):
    stopped = EchoPlatform().start()
    stopped.stop()
    api = make_api(stopped, service)
    for _ in range(3):
        with pytest.raises(ExternalUnavailable):
            api.get_json("items")

    with pytest.raises(CircuitOpen):
        api.get_json("items")


def test_only_one_probe_goes_out_when_many_threads_call(fake, guarded_api):
    open_breaker(fake, guarded_api)
    made = len(fake.calls())
    time.sleep(RESET)
    fake.latency = 0.3  # the probe is still out while the others arrive
    start = threading.Barrier(8)

    def call():
        start.wait()
        try:
            return guarded_api.get_json("items")
        except CircuitOpen as error:
            return error

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: call(), range(8)))

    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, CircuitOpen) for o in outcomes) == 7
    assert len(fake.calls()) == made + 1
    assert guarded_api.breaker.status().state == BreakerState.CLOSED


def test_a_probe_refused_by_the_rate_limit_frees_its_claim(
    fake, service, breaker_settings
):
    breaker_settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT = 0
    api = make_api(fake, service)
    limited = make_api(fake, service, rate_limit=RateLimit(1, 3600))
    open_breaker(fake, api)
    away_from_window_end(3600, margin=5)
    limited.limiter.acquire()  # the window's only call
    time.sleep(RESET)

    with pytest.raises(ExternalUnavailable) as raised:
        limited.get_json("items")
    assert not isinstance(raised.value, CircuitOpen)

    # Without the claim freed, this would be CircuitOpen until the lease ran out.
    assert api.get_json("items")["ok"] is True
    assert api.breaker.status().state == BreakerState.CLOSED


def test_calls_in_flight_do_not_push_the_pause_back(fake, guarded_api):
    open_breaker(fake, guarded_api)
    opened_at = guarded_api.breaker.status().opened_at
    time.sleep(0.05)

    guarded_api.breaker.record_failure(was_probe=False)  # a call sent before it opened

    assert guarded_api.breaker.status().opened_at == opened_at


# --- rate limit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90/min", RateLimit(90, 60)),
        ("2000/hour", RateLimit(2000, 3600)),
        (" 5 / S ", RateLimit(5, 1)),
        ("10", RateLimit(10, 1)),
        ("0", None),
        ("", None),
        (None, None),
    ],
)
def test_rate_limits_parse(text, expected):
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["many", "90/fortnight", "1.5/min", "0/min", "-3/hour", "90/min/x"]
)
def test_bad_rate_limits_do_not_parse(text):
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit.parse(text)


def test_a_call_over_the_limit_waits_for_the_next_window(fake, service):
    api = make_api(fake, service, rate_limit=RateLimit(3, 1))
    away_from_window_end(1, margin=0.7)
    window_end = int(time.time()) + 1

    for _ in range(3):
        _, elapsed = timed(api.get_json, "items")
        assert elapsed < 0.2
    before = time.time()
    _, elapsed = timed(api.get_json, "items")

    assert time.time() >= window_end
    assert elapsed >= window_end - before - 0.01
    assert len(fake.calls()) == 4


def test_a_wait_longer_than_max_wait_is_unavailable(fake, service, settings):
    settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT = 0.5
    api = make_api(fake, service, rate_limit=RateLimit(3, 3600))
    away_from_window_end(3600, margin=5)
    for _ in range(3):
        api.get_json("items")

    with pytest.raises(ExternalUnavailable) as raised:
        timed(api.get_json, "items")

    assert not isinstance(raised.value, CircuitOpen)
    assert raised.value.retry_after > 0.5
    assert raised.value.elapsed < 0.5
    assert len(fake.calls()) == 3


def test_the_limit_is_shared_by_every_client_of_a_key(fake, service, settings):
    settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT = 0
    away_from_window_end(3600, margin=5)
    make_api(fake, service, rate_limit=RateLimit(2, 3600)).get_json("items")
    make_api(fake, service, rate_limit=RateLimit(2, 3600)).get_json("items")

    with pytest.raises(ExternalUnavailable):
        make_api(fake, service, rate_limit=RateLimit(2, 3600)).get_json("items")
    limiter = RateLimiter(f"{service}:other-key", RateLimit(2, 3600), max_wait=0)
    limiter.acquire()  # another key has its own count


def test_retried_requests_count_against_the_limit(fake, service, settings):
    settings.INTEGRATIONS_RATE_LIMIT_MAX_WAIT = 0
    api = make_api(fake, service, rate_limit=RateLimit(3, 3600))
    away_from_window_end(3600, margin=5)
    fake.fail_next("500", "500")
    api.get_json("items")  # three requests

    with pytest.raises(ExternalUnavailable):
        api.get_json("items")
    assert len(fake.calls()) == 3


# --- call log -----------------------------------------------------------------------

SECRETS = ("SECRET123", "SECRET456")


def secret_api(fake, service):
    return make_api(
        fake,
        service,
        params={"key": "SECRET123"},
        headers={"Authorization": "Bearer SECRET456"},
    )


def assert_no_secret(caplog, *texts):
    captured = [caplog.text, *texts]
    for record in caplog.records:
        captured += [record.getMessage(), repr(vars(record))]
    for secret in SECRETS:
        assert not any(secret in text for text in captured)


def http_calls(caplog):
    return [r.http_call for r in caplog.records if hasattr(r, "http_call")]


def test_a_call_is_logged_without_its_credentials(fake, service, caplog):
    caplog.set_level(logging.INFO)
    api = secret_api(fake, service)

    api.get_json("items", {"page": "2"})

    sent = fake.calls()[0]
    assert sent.query["key"] == "SECRET123"
    assert sent.headers["authorization"] == "Bearer SECRET456"
    (call,) = http_calls(caplog)
    assert call["duration_ms"] >= 0
    assert {k: v for k, v in call.items() if k != "duration_ms"} == {
        "service": service,
        "method": "GET",
        "endpoint": "/api/items",
        "status": 200,
        "attempts": 1,
    }
    assert f"{service} GET /api/items -> 200" in caplog.text
    assert_no_secret(caplog)


def test_a_retried_call_logs_its_attempts(fake, service, caplog):
    caplog.set_level(logging.INFO)
    fake.fail_next("502")

    secret_api(fake, service).get_json("items")

    (call,) = http_calls(caplog)
    assert (call["status"], call["attempts"]) == (200, 2)
    assert_no_secret(caplog)


@pytest.mark.parametrize("kind", ["reset", "timeout"])
def test_a_failed_call_leaks_no_credentials(fake, service, caplog, settings, kind):
    """urllib3 logs a WARNING with the URL on each retried connection error, and the
    requests exception's message holds the full URL."""
    caplog.set_level(logging.INFO)
    fake.fail_always(kind)

    with pytest.raises(ExternalUnavailable) as raised:
        secret_api(fake, service).get_json("items")

    (call,) = http_calls(caplog)
    assert call["status"] is None
    assert call["attempts"] == 1 + settings.INTEGRATIONS_HTTP_RETRIES
    assert call["error"]
    assert_no_secret(caplog, "".join(traceback.format_exception(raised.value)))


# --- threads ------------------------------------------------------------------------


def test_sixteen_threads_share_the_client(fake, api):
    fake.latency = 0.02

    def worker(n):
        return [api.get_json(f"items/{n}-{i}")["path"] for i in range(5)]

    with ThreadPoolExecutor(16) as pool:
        paths = list(pool.map(worker, range(16)))

    assert paths == [[f"/api/items/{n}-{i}" for i in range(5)] for n in range(16)]
    assert len(fake.calls()) == 80


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.test/api/x?key=secret",
        "http://127.0.0.1:9/a",
        "https://billing.internal/x",
        "http://example.test:81/",
    ],
)
@pytest.mark.parametrize(
    ("proxies", "verify"),
    [({}, None), ({"https": "http://other:1"}, True), ({}, False)],
)
def test_the_environment_read_once_gives_what_requests_reads_each_call(
    monkeypatch, url, proxies, verify
):
    import requests

    from ticketing.lib.http import _Session, sessions_reset

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.test:8080")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    sessions_reset()  # forgets what an earlier test's environment gave
    ours = _Session().merge_environment_settings(url, dict(proxies), None, verify, None)
    theirs = requests.Session().merge_environment_settings(
        url, dict(proxies), None, verify, None
    )
    sessions_reset()

    assert ours == theirs
    bypassed = "internal" in url or "127.0.0.1" in url  # NO_PROXY
    assert dict(ours["proxies"]) == (
        proxies
        if bypassed
        else {
            "https": "http://proxy.test:3128",
            "http": "http://plain-proxy.test:8080",
            "no": "127.0.0.1,.internal",
            **proxies,
        }
    )
    assert ours["verify"] == ("/etc/ssl/bundle.pem" if verify is not False else False)
