"""Security settings built from the environment, each case in a clean process (as in
test_settings.py): email tracking refuses to start without its webhook secret, and
HSTS is on by default once the site says it is served over TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "s3cret",
    "ALLOWED_HOSTS": "tickets.example",
    "SITE_URL": "https://tickets.example",
    # Settings only parse it; nothing connects.
    "DATABASE_URL": "postgres://app@db.example:5432/ticketing",
}

CHILD = """
import json, os
import environ

_read_env = environ.Env.read_env.__func__
environ.Env.read_env = classmethod(
    lambda cls, env_file=None, **kw: _read_env(cls, os.environ["TEST_DOTENV"], **kw)
)
from django.conf import settings
print(json.dumps({
    "hsts": getattr(settings, "SECURE_HSTS_SECONDS", 0),
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "email_tracking": settings.EMAIL_TRACKING,
    "csp": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"],
}))
"""


@pytest.fixture
def load(tmp_path):
    dotenv = tmp_path / "test.env"
    dotenv.write_text("")

    def run(**variables: str) -> subprocess.CompletedProcess:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "ticketing.settings",
            "TEST_DOTENV": str(dotenv),
            **variables,
        }
        return subprocess.run(
            [sys.executable, "-c", CHILD],
            cwd=BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def _values(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _refusal(result) -> str:
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    prefix = "django.core.exceptions.ImproperlyConfigured: "
    assert last_line.startswith(prefix), result.stderr
    return last_line.removeprefix(prefix)


def test_brevo_without_a_webhook_secret_refuses_to_start(load):
    message = _refusal(load(**PRODUCTION, BREVO_API_KEY="xkeysib-1"))

    assert "ANYMAIL_WEBHOOK_SECRET" in message
    assert "EMAIL_TRACKING=0" in message


@pytest.mark.parametrize(
    "extra",
    [
        {"BREVO_API_KEY": "xkeysib-1", "ANYMAIL_WEBHOOK_SECRET": "brevo:s3cret"},
        {"BREVO_API_KEY": "xkeysib-1", "EMAIL_TRACKING": "0"},
        {},  # console email: nothing to track
    ],
)
def test_tracking_starts_with_a_secret_or_when_off(load, extra):
    _values(load(**PRODUCTION, **extra))


def test_tracking_turned_on_explicitly_needs_the_secret_too(load):
    assert "ANYMAIL_WEBHOOK_SECRET" in _refusal(load(**PRODUCTION, EMAIL_TRACKING="1"))


def test_debug_may_run_tracking_without_a_secret(load):
    debug = {"DEBUG": "1", "DATABASE_URL": PRODUCTION["DATABASE_URL"]}
    assert _values(load(**debug, BREVO_API_KEY="xkeysib-1"))["email_tracking"] is None


@pytest.mark.parametrize(
    ("extra", "hsts"),
    [
        ({}, 31536000),  # SITE_URL is https://: the site is served over TLS
        ({"USE_TLS": "0"}, 0),
        ({"SITE_URL": "http://tickets.example"}, 0),
        ({"SITE_URL": "HTTPS://tickets.example"}, 31536000),
        ({"SITE_URL": "http://tickets.example", "SECURE_SSL_REDIRECT": "1"}, 31536000),
        ({"SITE_URL": "http://tickets.example", "USE_TLS": "1"}, 31536000),
        ({"USE_TLS": "1", "SECURE_HSTS_SECONDS": "3600"}, 3600),
        ({"SECURE_SSL_REDIRECT": "1", "USE_TLS": "0"}, 0),
    ],
)
def test_hsts_is_on_by_default_when_tls_is(load, extra, hsts):
    assert _values(load(**{**PRODUCTION, **extra}))["hsts"] == hsts


def test_the_policy_allows_this_site_only(load):
    csp = _values(load(**PRODUCTION))["csp"]

    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in value for values in csp.values() for value in values)
