"""API keys are cached by prefix; a change to a key is honoured on the next request."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory
from partner_api.api_keys import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_and_plain():
    key, plain = ApiKey.generate(
        organiser=OrganiserFactory(), name="partner", scopes=["read"]
    )
    key.save()
    return key, plain


def _events(client, plain):
    return client.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_a_known_key_is_found_without_the_database(
    key_and_plain, django_assert_num_queries
):
    key, plain = key_and_plain
    assert ApiKey.find(plain).pk == key.pk
    with django_assert_num_queries(0):
        found = ApiKey.find(plain)
    assert found.pk == key.pk
    assert found.organiser_id == key.organiser_id


def test_a_wrong_secret_is_refused_even_when_the_prefix_is_cached(key_and_plain):
    key, plain = key_and_plain
    assert ApiKey.find(plain) is not None
    assert ApiKey.find(f"tk_{key.prefix}_not-the-secret") is None


def test_revoking_in_admin_refuses_the_next_request(client, key_and_plain):
    key, plain = key_and_plain
    assert _events(client, plain).status_code == 200  # now cached
    owner = MembershipFactory(organiser=key.organiser, role=Membership.Role.OWNER).user
    client.force_login(owner)
    client.post(
        reverse("admin:partner_api_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    client.logout()
    response = _events(client, plain)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_an_expiry_saved_in_admin_applies_at_once(client, key_and_plain):
    key, plain = key_and_plain
    assert _events(client, plain).status_code == 200
    key.expires_at = timezone.now() - dt.timedelta(seconds=1)
    key.save()
    assert _events(client, plain).status_code == 401


def test_a_deleted_key_stops_working(client, key_and_plain):
    key, plain = key_and_plain
    assert _events(client, plain).status_code == 200
    key.delete()
    assert _events(client, plain).status_code == 401


def test_a_lookup_racing_a_revocation_does_not_cache_the_old_key(
    key_and_plain, monkeypatch
):
    """The lookup reads the key from the database, the key is revoked, and only then
    does the lookup write its (now outdated) copy to the cache."""
    key, plain = key_and_plain
    read_from_database = ApiKey._from_database

    def read_then_revoked_meanwhile(prefix):
        before = read_from_database(prefix)
        ApiKey.objects.get(prefix=prefix).revoke(timezone.now())
        return before

    monkeypatch.setattr(
        ApiKey, "_from_database", staticmethod(read_then_revoked_meanwhile)
    )
    # Valid when it was read: this one request may still pass.
    assert ApiKey.find(plain) is not None
    monkeypatch.setattr(ApiKey, "_from_database", staticmethod(read_from_database))
    assert ApiKey.find(plain) is None


def test_last_used_is_written_once_a_minute_and_the_cache_keeps_it(
    key_and_plain, django_assert_num_queries
):
    key, plain = key_and_plain
    now = timezone.now()
    ApiKey.find(plain).mark_used(now)
    key.refresh_from_db()
    assert key.last_used_at == now
    with django_assert_num_queries(0):
        ApiKey.find(plain).mark_used(now + dt.timedelta(seconds=30))
    with django_assert_num_queries(1):
        ApiKey.find(plain).mark_used(now + dt.timedelta(seconds=61))
    key.refresh_from_db()
    assert key.last_used_at == now + dt.timedelta(seconds=61)


def test_keys_still_work_when_the_cache_is_down(client, key_and_plain, caplog):
    key, plain = key_and_plain
    broken = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with override_settings(CACHES=broken):
        assert _events(client, plain).status_code == 200
        key.revoke(timezone.now())
        assert _events(client, plain).status_code == 401
    assert "API key cache unreachable" in caplog.text
