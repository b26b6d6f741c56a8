"""Failed partner API authentications are throttled per client address, and made-up
keys do not reach the database on every request."""

from __future__ import annotations

import secrets

import pytest

from events.tests.factories import OrganiserFactory
from partner_api.api_keys import ApiKey
from partner_api.auth import auth_failure_limit, auth_failures

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.5"
PARTNER = "198.51.100.7"


@pytest.fixture(autouse=True)
def _limit(settings):
    """Counted from zero in each test (the run's Redis outlives one); per hour, so
    that no test sees its window end halfway."""
    settings.API_AUTH_FAILURE_RATE = "5/hour"
    limit = auth_failure_limit()
    for address in (ATTACKER, PARTNER):
        auth_failures.reset(address, limit)
    yield
    for address in (ATTACKER, PARTNER):
        auth_failures.reset(address, limit)


@pytest.fixture
def plain():
    key, plain = ApiKey.generate(
        organiser=OrganiserFactory(), name="partner", scopes=["read"]
    )
    key.save()
    return plain


def _events(client, authorization, ip=ATTACKER, **extra):
    return client.get(
        "/api/v1/events/", HTTP_AUTHORIZATION=authorization, REMOTE_ADDR=ip, **extra
    )


def _random_key() -> str:
    return f"tk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def test_failures_past_the_limit_get_429_with_retry_after(client, plain):
    for _ in range(5):
        response = _events(client, f"Bearer {_random_key()}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"

    throttled = _events(client, f"Bearer {_random_key()}")

    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 3600
    body = throttled.json()
    assert body["error"]["code"] == "throttled"
    assert "Too many failed authentications" in body["error"]["message"]
    assert body["error"]["fields"] == {}
    # While throttled, even a right key from that address is refused: otherwise
    # guessing would go on, only without the 401s.
    assert _events(client, f"Bearer {plain}").status_code == 429


def test_other_addresses_are_not_throttled(client, plain):
    for _ in range(6):
        _events(client, f"Bearer {_random_key()}")

    assert _events(client, f"Bearer {plain}", ip=PARTNER).status_code == 200
    assert _events(client, f"Bearer {_random_key()}", ip=PARTNER).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer tk_x", "Bearer tk_../.._x", "Token abc"],
)
def test_malformed_credentials_count_as_failures(client, authorization):
    for _ in range(5):
        assert _events(client, authorization).status_code == 401

    assert _events(client, authorization).status_code == 429


def test_successes_and_missing_keys_do_not_count(client, plain):
    for _ in range(10):
        assert _events(client, f"Bearer {plain}").status_code == 200
        assert client.get("/api/v1/events/", REMOTE_ADDR=ATTACKER).status_code == 401

    assert _events(client, f"Bearer {_random_key()}").status_code == 401


def test_forged_forwarded_for_does_not_escape_the_limit(client):
    for attempt in range(5):
        _events(
            client, f"Bearer {_random_key()}", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}"
        )

    response = _events(
        client, f"Bearer {_random_key()}", HTTP_X_FORWARDED_FOR="10.9.9.9"
    )

    assert response.status_code == 429


def test_an_unknown_prefix_is_looked_up_once(django_assert_num_queries):
    made_up = _random_key()
    assert ApiKey.find(made_up) is None

    with django_assert_num_queries(0):
        for _ in range(20):
            assert ApiKey.find(made_up) is None


def test_a_malformed_prefix_is_never_looked_up(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert ApiKey.find("tk_' OR 1=1 --_secret") is None
        assert ApiKey.find(f"tk_{'a' * 17}_secret") is None
        assert ApiKey.find("tk__secret") is None


def test_a_key_created_after_its_prefix_was_looked_up_in_vain_works():
    key, plain = ApiKey.generate(
        organiser=OrganiserFactory(), name="partner", scopes=["read"]
    )
    assert ApiKey.find(plain) is None  # not saved yet: cached as unknown

    key.save()

    assert ApiKey.find(plain).pk == key.pk
