"""The one retry policy: its Retry-After parser, its backoff bounds and its rule for
what is worth another try."""

import datetime as dt
import email.utils
import random

import pytest
import requests

from ticketing.lib.retry import (
    RetryPolicy,
    is_retryable_error,
    is_retryable_status,
    retry_after_seconds,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # RFC 850, still allowed
        ("Sun Mar  1 12:00:05 2026", 5.0),  # asctime: no zone, GMT by definition
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: now
        ("Sun, 01 Mar 2026 13:00:00 +0100", 0.0),  # an offset is honoured
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, seconds):
    assert retry_after_seconds(header, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "  ", "-5", "soon", "1e3", "12s"])
def test_retry_after_unreadable_is_none(header):
    assert retry_after_seconds(header, now=NOW) is None


def test_retry_after_date_is_relative_to_the_clock():
    in_a_minute = email.utils.formatdate(
        dt.datetime.now(dt.UTC).timestamp() + 60, usegmt=True
    )
    assert 55 <= retry_after_seconds(in_a_minute) <= 60


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (200, False),
        (400, False),
        (401, False),
        (404, False),
        (409, False),
        (410, False),
        (422, False),
    ],
)
def test_retryable_statuses(status, retryable):
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (requests.ConnectTimeout("x"), True),
        (requests.ReadTimeout("x"), True),
        (requests.ConnectionError("x"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ValueError("x"), False),
        (requests.HTTPError("x"), False),
    ],
)
def test_retryable_errors(error, retryable):
    assert is_retryable_error(error) is retryable


def test_backoff_doubles_from_base_and_jitter_only_shortens():
    policy = RetryPolicy(base=10, cap=10_000, jitter=0.2)
    rng = random.Random(4)
    for attempts, full in [(1, 10), (2, 20), (3, 40), (6, 320)]:
        draws = [policy.backoff(attempts, rng=rng) for _ in range(500)]
        assert min(draws) >= 0.8 * full
        assert max(draws) <= full
        assert max(draws) - min(draws) > 0.1 * full  # it does spread


def test_backoff_never_exceeds_the_cap():
    policy = RetryPolicy(base=30, cap=3600, jitter=0.25)
    rng = random.Random(7)
    for attempts in (8, 9, 20, 10_000):
        draw = policy.backoff(attempts, rng=rng)
        assert 0.75 * 3600 <= draw <= 3600


def test_no_jitter_is_exact():
    policy = RetryPolicy(base=2, cap=60, jitter=0)
    assert [policy.backoff(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(base=10, cap=600, jitter=0)
    assert policy.delay(1, retry_after=120) == 120
    assert policy.delay(1, retry_after=3) == 10  # shorter than the backoff: backoff
    assert policy.delay(1, retry_after=86_400) == 600


def test_attempt_limits():
    policy = RetryPolicy(base=1, cap=10, max_attempts=3)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert policy.next_attempt_at(1, now=now) is not None
    assert policy.next_attempt_at(2, now=now) is not None
    assert policy.next_attempt_at(3, now=now) is None
    forever = RetryPolicy(base=1, cap=10, max_attempts=None)
    assert not forever.gives_up(10_000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0, "cap": 10},
        {"base": 10, "cap": 5},
        {"base": 1, "cap": 5, "jitter": 1},
        {"base": 1, "cap": 5, "max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError, match="retry policy|Jitter|attempt"):
        RetryPolicy(**kwargs)


def test_the_http_clients_waits_between_attempts_follow_the_policy(settings):
    from urllib3.util.retry import RequestHistory

    from ticketing.lib.http import BACKOFF_MAX, _retry_policy

    settings.INTEGRATIONS_HTTP_BACKOFF = 1.0
    first = _retry_policy(10)
    assert first.get_backoff_time() == 0  # nothing failed yet
    for failures in range(1, 8):
        history = tuple(
            RequestHistory("GET", "/x", None, 503, None) for _ in range(failures)
        )
        full = min(BACKOFF_MAX, 2 ** (failures - 1))
        waits = [first.new(history=history).get_backoff_time() for _ in range(50)]
        assert 0.8 * full <= min(waits)
        assert max(waits) <= full


def test_celery_tasks_retry_per_the_policy():
    """A task's own retries wait what the policy says: Celery's countdown for retry n
    is the policy's backoff after n + 1 attempts (jitter aside), and the attempt
    limit counts the first try."""
    from celery.utils.time import get_exponential_backoff_interval

    from admission.tasks import booking_document_render_task
    from payments.tasks import payment_cancel_open_task
    from ticketing.lib.retry import TASK_RETRIES, celery_retry_options

    policy = RetryPolicy(base=2, cap=600, max_attempts=6, jitter=0)
    options = celery_retry_options(policy)
    for retries in range(12):
        countdown = get_exponential_backoff_interval(
            factor=int(options["retry_backoff"]),
            retries=retries,
            maximum=options["retry_backoff_max"],
            full_jitter=options["retry_jitter"],
        )
        assert countdown == policy.backoff(retries + 1)
    assert options["max_retries"] == 5
    assert (
        celery_retry_options(RetryPolicy(base=1, cap=2, max_attempts=None))[
            "max_retries"
        ]
        is None
    )

    for task in (booking_document_render_task, payment_cancel_open_task):
        assert task.max_retries == TASK_RETRIES.max_attempts - 1
        assert task.retry_backoff == TASK_RETRIES.base
        assert task.retry_backoff_max == TASK_RETRIES.cap
