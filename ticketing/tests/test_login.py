"""The admin sign-in: brute force is locked out (django-axes), per username and per
client address, with a page that says so; the client address is the one every other
limit uses (REMOTE_ADDR, or X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies).
"""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from events.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/?next=/admin/"
ATTACKER = "203.0.113.5"
OFFICE = "198.51.100.7"


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_superuser=True)


def _login(client, username, password, ip=ATTACKER, **headers):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
        **headers,
    )


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_twenty_wrong_passwords_then_the_right_one_is_refused(client, boss):
    for attempt in range(20):
        response = _login(client, "boss", f"guess-{attempt}")
        assert response.status_code in (200, 429)  # the form again, then locked
        assert not _signed_in(client)

    response = _login(client, "boss", PASSWORD)

    assert response.status_code == 429
    assert not _signed_in(client)
    assert response["Retry-After"] == str(15 * 60)
    html = response.content.decode()
    assert "Too many failed sign-ins" in html
    assert "Try again in 15 minutes" in html
    # The lock is recorded where a superuser can see and clear it.
    attempt = AccessAttempt.objects.get(username="boss", ip_address=ATTACKER)
    assert attempt.failures_since_start >= 5


def test_the_lock_starts_at_the_limit(client, boss, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "boss", f"guess-{attempt}").status_code == 200
    assert _login(client, "boss", "one-more").status_code == 429
    assert _login(client, "boss", PASSWORD).status_code == 429


def test_another_user_from_another_address_still_signs_in(
    client, boss, django_user_model
):
    UserFactory(username="clerk")
    for attempt in range(20):
        _login(client, "boss", f"guess-{attempt}")

    response = _login(client, "clerk", PASSWORD, ip=OFFICE)

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(
        django_user_model.objects.get(username="clerk").pk
    )


def test_one_address_trying_many_usernames_is_locked_out(client, boss):
    UserFactory(username="clerk")
    for attempt in range(5):
        _login(client, f"nobody{attempt}", "guess")

    # Even a right password for a user never tried is refused from that address...
    assert _login(client, "clerk", PASSWORD).status_code == 429
    assert not _signed_in(client)
    # ...and accepted from elsewhere.
    assert _login(client, "clerk", PASSWORD, ip=OFFICE).status_code == 302


def test_one_username_tried_from_many_addresses_is_locked_out(client, boss):
    for attempt in range(5):
        _login(client, "boss", "guess", ip=f"192.0.2.{attempt + 1}")

    assert _login(client, "boss", PASSWORD, ip=OFFICE).status_code == 429
    assert not _signed_in(client)


def test_forged_forwarded_for_does_not_escape_the_address_lock(client, boss):
    UserFactory(username="clerk")
    for attempt in range(5):
        _login(
            client,
            f"nobody{attempt}",
            "guess",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
        )

    response = _login(client, "clerk", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_on_its_own(
    client, boss, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="clerk")
    for attempt in range(5):
        _login(
            client,
            f"nobody{attempt}",
            "guess",
            ip="127.0.0.1",
            HTTP_X_FORWARDED_FOR=ATTACKER,
        )

    locked = _login(
        client, "clerk", PASSWORD, ip="127.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER
    )
    other = _login(
        client, "clerk", PASSWORD, ip="127.0.0.1", HTTP_X_FORWARDED_FOR=OFFICE
    )

    assert locked.status_code == 429
    assert other.status_code == 302
    assert AccessAttempt.objects.filter(ip_address=ATTACKER).count() == 5


def test_the_lock_lifts_after_the_cool_off(client, boss):
    for attempt in range(5):
        _login(client, "boss", f"guess-{attempt}")
    assert _login(client, "boss", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))

    assert _login(client, "boss", PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_success_before_the_limit_clears_the_count(client, boss):
    for attempt in range(4):
        _login(client, "boss", f"guess-{attempt}")
    assert _login(client, "boss", PASSWORD).status_code == 302
    client.logout()
    for attempt in range(4):
        _login(client, "boss", f"again-{attempt}")

    assert _login(client, "boss", PASSWORD).status_code == 302
