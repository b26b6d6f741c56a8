"""What a partner API request no longer pays for (issue 24): the page-only
middlewares, and more than one cache round trip for its key, its address's failed
authentications and its throttle count."""

import pytest
from django.core.cache import cache
from redis.connection import Connection

from partner_api.auth import ApiKeyRateThrottle
from partner_api.tests.api_fixtures import api_key, get, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Round trips to Redis (each command or pipeline sent), counted as they go."""
    sent = []
    real = Connection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent


def test_api_answers_carry_no_page_cookies_or_page_headers(client, shop):
    plain = api_key(shop["session"].event.organiser)
    client.cookies["sessionid"] = "not-a-session"  # a page's cookie is not read
    answer = get(client, f"/api/v1/sessions/{shop['session'].pk}/availability/", plain)
    assert answer.status_code == 200
    assert "Content-Security-Policy" not in answer.headers
    assert not answer.cookies  # no session or CSRF cookie set
    # Pages keep them.
    page = client.get(f"/e/{shop['session'].event.slug}/")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers


def test_a_post_without_csrf_token_is_still_refused_on_pages(client, shop):
    csrf_client = type(client)(enforce_csrf_checks=True)
    answer = csrf_client.post(f"/e/{shop['session'].event.slug}/", {})
    assert answer.status_code == 403


def test_key_failures_and_throttle_share_one_round_trip(
    client, shop, redis_round_trips
):
    plain = api_key(shop["session"].event.organiser)
    path = f"/api/v1/sessions/{shop['session'].pk}/availability/"
    assert get(client, path, plain).status_code == 200  # caches the key
    redis_round_trips.clear()
    assert get(client, path, plain).status_code == 200
    # One for authentication + throttle, one for the cached availability.
    assert len(redis_round_trips) == 2, redis_round_trips


def test_a_request_refused_for_its_scope_is_not_counted_by_the_throttle(
    client, shop, monkeypatch
):
    # A day's window: the requests below cannot straddle two.
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1000/d"})
    plain = api_key(shop["session"].event.organiser, scopes=("read",))
    window = ApiKeyRateThrottle().window(plain.split("_")[1])
    body = {"session": shop["session"].pk, "lines": [], "buyer": {}, "attendees": []}
    for _ in range(3):
        assert post(client, "/api/v1/bookings/", body, plain).status_code == 403
    assert not cache.get(window.current_key)
    path = f"/api/v1/sessions/{shop['session'].pk}/availability/"
    assert get(client, path, plain).status_code == 200
    assert cache.get(window.current_key) == 1


def test_a_wrong_secret_does_not_use_up_the_keys_throttle(client, shop, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1000/d"})
    plain = api_key(shop["session"].event.organiser)
    window = ApiKeyRateThrottle().window(plain.split("_")[1])
    wrong = plain[:-4] + ("aaaa" if not plain.endswith("aaaa") else "bbbb")
    path = f"/api/v1/sessions/{shop['session'].pk}/availability/"
    assert get(client, path, wrong).status_code == 401
    assert not cache.get(window.current_key)
