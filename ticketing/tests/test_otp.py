"""A second factor for staff (django-otp TOTP): staff register an authenticator app
themselves; once they have, the admin asks for its code after the password; with
ADMIN_REQUIRE_OTP_FOR_SUPERUSERS a superuser cannot use the admin without one."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory

pytestmark = pytest.mark.django_db

SETUP = "/admin/otp/setup/"
VERIFY = "/admin/otp/verify/"


def _code(device: TOTPDevice, *, step: int = 0) -> str:
    """The code the app shows now (step 0) or in the next 30 s window (step 1): a
    code once accepted is never accepted again, so a second sign-in uses the next."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, drift=step):06d}"


@pytest.fixture
def staff():
    user = UserFactory(username="door-manager")
    MembershipFactory(
        user=user, organiser=OrganiserFactory(), role=Membership.Role.OWNER
    )
    return user


def _register(client, user) -> TOTPDevice:
    client.force_login(user)
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html  # the QR code, inline (no data: URL for the CSP to allow)
    secret = re.search(r'data-testid="otp-secret">([A-Z2-7=]+)<', html).group(1)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert secret.rstrip("=") in html
    response = client.post(SETUP, {"token": _code(device), "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_staff_register_an_authenticator_and_then_need_its_code(client, staff):
    device = _register(client, staff)
    # The session that registered it counts as verified.
    assert client.get("/admin/").status_code == 200

    client.logout()
    client.force_login(staff)  # the password step, in a new session
    response = client.get("/admin/events/event/")
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Fadmin%2Fevents%2Fevent%2F"

    wrong = client.post(VERIFY, {"token": "000000", "next": "/admin/events/event/"})
    assert wrong.status_code == 200
    assert "That code is wrong or has expired" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302
    # django-otp makes the device wait after a failure (1 s, then doubling): let
    # that wait pass.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)

    right = client.post(
        VERIFY, {"token": _code(device, step=1), "next": "/admin/events/event/"}
    )
    assert right.status_code == 302
    assert right["Location"] == "/admin/events/event/"
    assert client.get("/admin/events/event/").status_code == 200


def test_a_wrong_code_does_not_confirm_a_new_authenticator(client, staff):
    client.force_login(staff)
    client.get(SETUP)

    response = client.post(SETUP, {"token": "123456"})

    assert response.status_code == 200
    assert "That code is wrong or has expired" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    assert client.get("/admin/").status_code == 200  # nothing owed yet


def test_the_password_alone_cannot_add_a_second_authenticator(client, staff):
    _register(client, staff)
    client.logout()
    client.force_login(staff)

    response = client.get(SETUP)

    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_unverified_staff_are_signed_out_of_pages_outside_the_admin(client, staff):
    _register(client, staff)
    client.logout()
    client.force_login(staff)

    response = client.get("/checkin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/checkin/"


@pytest.mark.parametrize("required", [True, False])
def test_superusers_need_an_authenticator_when_required(client, settings, required):
    settings.ADMIN_REQUIRE_OTP_FOR_SUPERUSERS = required
    boss = UserFactory(username="boss", is_superuser=True)
    client.force_login(boss)

    response = client.get("/admin/")

    if not required:
        assert response.status_code == 200
        return
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fadmin%2F"
    assert client.get("/admin/auth/user/").status_code == 302
    assert client.get("/checkin/").status_code == 302
    setup = client.get(SETUP)
    assert "Superusers must use an authenticator app" in setup.content.decode()
    device = TOTPDevice.objects.get(user=boss)
    assert client.post(SETUP, {"token": _code(device)}).status_code == 302
    assert client.get("/admin/auth/user/").status_code == 200


def test_required_superuser_otp_leaves_other_staff_alone(client, settings, staff):
    settings.ADMIN_REQUIRE_OTP_FOR_SUPERUSERS = True
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200


def test_the_setup_page_needs_a_staff_login(client):
    response = client.get(SETUP)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.exists()


def test_next_never_leaves_the_site(client, staff):
    client.force_login(staff)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)

    response = client.post(
        SETUP, {"token": _code(device), "next": "https://evil.example/"}
    )

    assert response["Location"] == "/admin/"
