"""Content-Security-Policy and HSTS as pages are served, and no served template
relies on inline script or style that the policy would block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory

pytestmark = pytest.mark.django_db

STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)
# Rendered into emails and PDFs, never served to a browser under the policy.
NOT_SERVED = (
    "notifications/email/",
    "admission/tickets_pdf.html",
    "invoicing/invoice_pdf.html",
)


def _policy(response) -> dict[str, set[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


def _assert_no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html), INLINE_STYLE.search(html)


@pytest.mark.parametrize("path", ["/", "/b/lookup/", "/admin/login/", "/e/nope/"])
def test_pages_carry_the_strict_policy(client, path):
    response = client.get(path)

    assert _policy(response) == STRICT
    _assert_no_inline_code(response.content.decode())


def test_the_admin_and_the_door_page_carry_it_too(client):
    user = UserFactory()
    MembershipFactory(
        user=user, organiser=OrganiserFactory(), role=Membership.Role.OWNER
    )
    client.force_login(user)

    for path in ("/admin/", "/admin/events/event/", "/admin/otp/setup/", "/checkin/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _policy(response) == STRICT, path
        _assert_no_inline_code(response.content.decode())


def test_api_docs_load_their_start_up_script_as_a_file(client):
    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    _assert_no_inline_code(html)
    assert _policy(page)["img-src"] == {"'self'", "data:"}  # Swagger UI's icons
    assert _policy(page)["script-src"] == {"'self'"}
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert "/api/schema/" in script.content.decode()


def test_hsts_is_sent_over_https_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000

    secure = client.get("/", secure=True)
    plain = client.get("/")

    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain


def _served_templates():
    root = Path(settings.BASE_DIR)
    for folder in [root / "templates", *root.glob("*/templates")]:
        for path in folder.rglob("*.html"):
            name = path.relative_to(folder).as_posix()
            if not name.startswith(NOT_SERVED):
                yield pytest.param(path, id=name)


@pytest.mark.parametrize("path", list(_served_templates()))
def test_no_served_template_has_inline_script_or_style(path):
    _assert_no_inline_code(path.read_text())
