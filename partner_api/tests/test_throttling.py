"""The sliding-window throttle on the real Redis cache: exact under concurrency, a
refused request does not count, the previous window fades, Retry-After is the real
wait, and an unreachable cache lets requests through."""

from __future__ import annotations

import logging
import threading
import uuid
from unittest import mock

import pytest
from django.test import override_settings

from partner_api.throttling import SlidingWindowThrottle, seconds_until_allowed

# A fixed instant 10 s into a one-minute window.
WINDOW_START = 1_800_000_000 // 60 * 60


class _Throttle(SlidingWindowThrottle):
    scope = "test"

    def __init__(self, ident: str, rate: str) -> None:
        self.ident = ident
        self.THROTTLE_RATES = {"test": rate}

    def get_ident(self, request, view):
        return self.ident


def _allowed(
    ident: str, rate: str, at: float | None = None
) -> tuple[bool, float | None]:
    throttle = _Throttle(ident, rate)
    if at is None:
        return throttle.allow_request(None, None), throttle.wait()
    with mock.patch("partner_api.throttling.time.time", return_value=at):
        return throttle.allow_request(None, None), throttle.wait()


@pytest.fixture
def ident():
    return uuid.uuid4().hex


def test_exactly_the_limit_passes_when_requests_race(ident):
    barrier = threading.Barrier(16)
    results: list[bool] = []
    lock = threading.Lock()

    def client():
        barrier.wait()
        for _ in range(5):
            allowed, _wait = _allowed(ident, "30/min")
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    assert results.count(True) == 30


def test_refused_requests_do_not_count_against_the_next_ones(ident):
    start = WINDOW_START + 10
    assert [_allowed(ident, "3/min", start)[0] for _ in range(6)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    # Next window, 40% in: the 3 counted requests weigh 3 * 0.6 = 1.8, so one more
    # fits (2.8) and the one after that (3.8) does not. Had the refusals counted
    # (6 * 0.6 = 3.6), none would.
    later = WINDOW_START + 60 + 24
    assert _allowed(ident, "3/min", later)[0] is True
    assert _allowed(ident, "3/min", later)[0] is False


def test_the_previous_window_fades_as_the_current_one_goes_on(ident):
    for _ in range(10):
        assert _allowed(ident, "10/min", WINDOW_START + 59)[0]
    # Half-way through the next window the 10 weigh 5: five more requests fit.
    halfway = WINDOW_START + 60 + 30
    outcomes = [_allowed(ident, "10/min", halfway)[0] for _ in range(6)]
    assert outcomes == [True] * 5 + [False]


def test_retry_after_is_the_time_until_a_request_fits(ident):
    for _ in range(2):
        assert _allowed(ident, "2/min", WINDOW_START + 10)[0]
    allowed, wait = _allowed(ident, "2/min", WINDOW_START + 10)
    assert not allowed
    # Full window with 2 of 2: one more fits once 2 * (1 - e/60) + 1 <= 2 in the
    # next window, i.e. at e = 30 s: 50 s left in this one + 30 s.
    assert wait == 80
    allowed, _ = _allowed(ident, "2/min", WINDOW_START + 60 + 30)
    assert allowed


def test_seconds_until_allowed_inside_the_current_window():
    # 10 last window, 4 now, limit 10, 15 s in: one more fits when
    # 10 * (1 - e/60) + 4 + 1 <= 10, i.e. e >= 30.
    assert seconds_until_allowed(10, 4, 10, 15, 60) == pytest.approx(15)
    assert seconds_until_allowed(10, 4, 0, 15, 60) == 0


def test_another_key_has_its_own_count(ident):
    for _ in range(2):
        assert _allowed(ident, "2/min", WINDOW_START + 1)[0]
    assert not _allowed(ident, "2/min", WINDOW_START + 1)[0]
    assert _allowed(ident + "-other", "2/min", WINDOW_START + 1)[0]


def test_no_rate_means_no_limit(ident):
    assert all(_allowed(ident, "")[0] for _ in range(50))


def test_unreachable_cache_lets_requests_through_and_says_so(ident, caplog):
    broken = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with override_settings(CACHES=broken), caplog.at_level(logging.WARNING):
        assert _allowed(ident, "1/min") == (True, None)
        assert _allowed(ident, "1/min") == (True, None)
    assert "Throttle cache unreachable" in caplog.text


def test_local_memory_cache_counts_too(ident):
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=local):
        outcomes = [_allowed(ident, "2/min", WINDOW_START + 5)[0] for _ in range(3)]
    assert outcomes == [True, True, False]
