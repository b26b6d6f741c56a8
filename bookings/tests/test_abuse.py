"""Checkout abuse limits against real Redis (atomic INCR) and PostgreSQL."""

import datetime as dt
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache, caches
from django.http import QueryDict
from django.test import RequestFactory
from django.utils import timezone
from django_redis.cache import RedisCache

from bookings import abuse
from bookings.abuse import (
    HONEYPOT_FIELD,
    TooManyHolds,
    TooManyPendingHolds,
    checkout_guard,
    client_ip,
    honeypot_tripped,
    rate_limit_hit,
)
from bookings.models import Booking
from ticketing.lib import ratelimit

from .factories import BookingFactory

HOUR = 3600


@pytest.fixture(autouse=True)
def _redis_only():
    # The atomicity these tests prove is Redis's; a local-memory cache proves nothing.
    assert isinstance(caches["default"], RedisCache), (
        "These tests need REDIS_URL (run them with `make test`)."
    )


@pytest.fixture
def limits(settings):
    settings.CHECKOUT_HOLDS_PER_IP_PER_HOUR = 3
    settings.CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR = 2
    settings.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = 100
    return settings


@pytest.fixture
def frozen_clock(monkeypatch):
    """Mid-window, so an hour boundary never falls inside a test."""
    moment = (time.time() // HOUR) * HOUR + 1000.25
    monkeypatch.setattr(abuse, "_now", lambda: moment)
    return moment


@pytest.fixture
def redis_keys():
    """Raw counter keys a test creates; deleted afterwards, whichever window."""
    created: list[str] = []
    yield created
    for key in created:
        cache.delete_pattern(f"{key}:*")


@pytest.fixture
def identities(redis_keys):
    """Fresh IPs and emails per test; their checkout counters are deleted after."""

    def make_ip() -> str:
        ip = f"198.51.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 256}"
        redis_keys.append(f"checkout:ip:{abuse._digest('ip', ip)}")
        return ip

    def make_email() -> str:
        email = f"buyer-{uuid.uuid4().hex[:10]}@example.org"
        redis_keys.append(f"checkout:email:{abuse._digest('email', email)}")
        return email

    return make_ip, make_email


def _key(redis_keys: list[str]) -> str:
    key = f"test:abuse:{uuid.uuid4().hex}"
    redis_keys.append(key)
    return key


# rate_limit_hit


def test_rate_limit_allows_up_to_limit_then_refuses_with_seconds_to_reset(
    frozen_clock, redis_keys
):
    key = _key(redis_keys)

    results = [rate_limit_hit(key, 3, HOUR) for _ in range(5)]

    assert results == [None, None, None, 2600, 2600]  # ceil(3600 - 1000.25)
    assert cache.get(f"{key}:{int(frozen_clock // HOUR)}") == 5


def test_rate_limit_key_expires_with_its_window(redis_keys):
    key = _key(redis_keys)
    time.sleep(1 - time.time() % 1 + 0.01)  # start of a one-second window

    assert rate_limit_hit(key, 1, 1) is None
    assert rate_limit_hit(key, 1, 1) == 1
    [window_key] = cache.keys(f"{key}:*")
    assert cache.ttl(window_key) in (0, 1)

    time.sleep(1.1)

    assert cache.get(window_key) is None
    assert rate_limit_hit(key, 1, 1) is None


def test_rate_limit_is_atomic_under_concurrency(frozen_clock, redis_keys):
    key = _key(redis_keys)
    barrier = threading.Barrier(20)

    def hit(_):
        barrier.wait(timeout=5)
        return rate_limit_hit(key, 10, HOUR)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(hit, range(20)))

    assert results.count(None) == 10
    assert sorted(r for r in results if r is not None) == [2600] * 10
    assert cache.get(f"{key}:{int(frozen_clock // HOUR)}") == 20


class _ReadThenWriteCache:
    """The non-atomic counter the atomic INCR replaces: read, add one, write."""

    def add(self, key, value, timeout):
        return cache.add(key, value, timeout)

    def incr(self, key, delta=1):
        value = cache.get(key) + delta
        cache.set(key, value, HOUR)
        return value

    def __getattr__(self, name):  # the rest of the cache, as is
        return getattr(cache, name)


def test_control_a_read_then_write_counter_lets_too_many_through(
    monkeypatch, frozen_clock, redis_keys
):
    """Shows the race the atomic test guards against is real on this setup."""
    # The counting is ticketing.lib.ratelimit.window_count's.
    monkeypatch.setattr(ratelimit, "cache", _ReadThenWriteCache())
    key = _key(redis_keys)
    barrier = threading.Barrier(20)

    def hit(_):
        barrier.wait(timeout=5)
        return rate_limit_hit(key, 10, HOUR)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(hit, range(20)))

    assert results.count(None) > 10


# checkout_guard: hourly limits


@pytest.mark.django_db
def test_guard_refuses_the_ip_at_limit_plus_one(limits, frozen_clock, identities):
    make_ip, make_email = identities
    ip = make_ip()

    for _ in range(3):
        checkout_guard(ip=ip, email=make_email())
    with pytest.raises(TooManyHolds) as refused:
        checkout_guard(ip=ip, email=make_email())

    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after_seconds == 2600
    assert refused.value.message == (
        "Too many bookings from you in a short time. Please try again later."
    )


@pytest.mark.django_db
def test_guard_refuses_the_email_at_limit_plus_one_in_any_case(
    limits, frozen_clock, identities
):
    make_ip, make_email = identities
    email = make_email()

    checkout_guard(ip=make_ip(), email=email)
    checkout_guard(ip=make_ip(), email=f"  {email.upper()} ")
    with pytest.raises(TooManyHolds) as refused:
        checkout_guard(ip=make_ip(), email=email)

    assert refused.value.retry_after_seconds == 2600


@pytest.mark.django_db
def test_guard_counts_ips_and_emails_independently(limits, frozen_clock, identities):
    make_ip, make_email = identities
    ip, other_ip = make_ip(), make_ip()
    for _ in range(3):
        checkout_guard(ip=ip, email=make_email())
    email, other_email = make_email(), make_email()
    for _ in range(2):
        checkout_guard(ip=make_ip(), email=email)

    checkout_guard(ip=other_ip, email=make_email())
    checkout_guard(ip=make_ip(), email=other_email)
    with pytest.raises(TooManyHolds):
        checkout_guard(ip=ip, email=make_email())
    with pytest.raises(TooManyHolds):
        checkout_guard(ip=make_ip(), email=email)


@pytest.mark.django_db
def test_guard_treats_one_ipv6_64_as_one_client(
    limits, frozen_clock, redis_keys, identities
):
    _, make_email = identities
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:1"
    redis_keys.append(f"checkout:ip:{abuse._digest('ip', f'{prefix}::/64')}")

    for host in range(1, 4):
        checkout_guard(ip=f"{prefix}::{host}", email=make_email())
    with pytest.raises(TooManyHolds):
        checkout_guard(ip=f"{prefix}::ffff", email=make_email())


@pytest.mark.django_db
def test_guard_counts_refused_attempts_too(limits, frozen_clock, identities):
    make_ip, make_email = identities
    limits.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = 0
    email = make_email()

    for _ in range(2):
        with pytest.raises(TooManyPendingHolds):
            checkout_guard(ip=make_ip(), email=email)
    with pytest.raises(TooManyHolds):
        checkout_guard(ip=make_ip(), email=email)


# checkout_guard: unpaid holds per email


@pytest.fixture
def pending_email(db):
    """An email with two unexpired pending holds and bookings that must not count."""
    email = f"ada-{uuid.uuid4().hex[:10]}@example.org"
    now = timezone.now()
    BookingFactory(buyer_email=email)
    BookingFactory(buyer_email=email.upper())
    BookingFactory(buyer_email=email, expires_at=now - dt.timedelta(seconds=1))
    for status in (
        Booking.Status.CONFIRMED,
        Booking.Status.CANCELLED,
        Booking.Status.EXPIRED,
        Booking.Status.REFUNDED,
    ):
        BookingFactory(
            buyer_email=email, status=status, expires_at=now + dt.timedelta(hours=1)
        )
    for _ in range(3):
        BookingFactory(buyer_email=f"other-{email}")
    return email


def test_guard_counts_only_unexpired_pending_holds(settings, pending_email, identities):
    make_ip, _ = identities
    settings.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = 3

    assert checkout_guard(ip=make_ip(), email=pending_email) is None


def test_guard_refuses_the_email_with_max_pending_holds(
    settings, pending_email, identities
):
    make_ip, _ = identities
    settings.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = 3
    BookingFactory(buyer_email=pending_email.title())
    before = Booking.objects.count()

    with pytest.raises(TooManyPendingHolds) as refused:
        checkout_guard(ip=make_ip(), email=f" {pending_email} ")

    assert refused.value.code == "too_many_pending"
    assert refused.value.message == (
        "You already have unpaid bookings waiting. Pay or cancel them first."
    )
    assert Booking.objects.count() == before


# client_ip


def _request(remote_addr="192.0.2.10", forwarded=None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/checkout/", **extra)


def test_client_ip_ignores_forwarded_for_without_trusted_proxies(settings):
    assert not getattr(settings, "TRUSTED_PROXY_COUNT", 0)

    assert client_ip(_request(forwarded="6.6.6.6")) == "192.0.2.10"
    assert client_ip(_request()) == "192.0.2.10"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client forged 6.6.6.6
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, "6.6.6.6,2001:db8::7", "2001:db8::7"),
        (2, "203.0.113.7", "192.0.2.10"),  # fewer hops than proxies: not trusted
        (1, "", "192.0.2.10"),
        (1, "6.6.6.6, not-an-ip", "192.0.2.10"),
    ],
)
def test_client_ip_takes_the_rightmost_untrusted_address(
    settings, count, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = count

    assert client_ip(_request(forwarded=forwarded)) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # Through our proxy: the right-most address that is not one of ours.
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # 6.6.6.6 forged
        ("10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two hops
        ("127.0.0.1", "2001:db8::7", "2001:db8::7"),
        # Straight to the app, past the proxy: the header is the client's own.
        ("192.0.2.10", "6.6.6.6", "192.0.2.10"),
        ("10.0.0.2", "6.6.6.6, not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only our own hops
    ],
)
def test_client_ip_reads_forwarded_for_only_from_trusted_proxies(
    settings, peer, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    settings.TRUSTED_PROXY_COUNT = 5  # ignored once TRUSTED_PROXIES is set

    assert client_ip(_request(remote_addr=peer, forwarded=forwarded)) == expected


def test_client_ip_with_trusted_proxy_and_no_header(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(_request()) == "192.0.2.10"


# honeypot


@pytest.mark.parametrize(
    ("data", "tripped"),
    [
        ({}, False),
        ({HONEYPOT_FIELD: ""}, False),
        ({HONEYPOT_FIELD: "   "}, False),
        ({HONEYPOT_FIELD: None}, False),
        ({HONEYPOT_FIELD: "http://spam.example"}, True),
        (QueryDict("website=spam&email=a%40b.c"), True),
        (QueryDict("website=&email=a%40b.c"), False),
    ],
)
def test_honeypot(data, tripped):
    assert HONEYPOT_FIELD == "website"
    assert honeypot_tripped(data) is tripped
