"""Errors to Sentry when SENTRY_DSN is set (sentry-sdk, Django and Celery).

No personal data is sent: no user, IP or cookies (`send_default_pii` left unset:
the SDK's default; sentry-sdk 2.75 deprecates passing it at all), no
request bodies (`max_request_body_size="never"`: a checkout's form carries the
buyer's name and email) and no local variables of the stack frames (a booking in a
local is the same data). `scrub` drops what could still carry a secret:
Authorization and cookie headers, the query string, and any value whose key names
a key, token, secret, password or signature, wherever it sits in the event.
"""

from __future__ import annotations

import re

SECRET_KEYS = re.compile(
    r"authorization|cookie|api[-_]?key|token|secret|password|passwd|signature|"
    r"session|csrf|dsn|idempotency",
    re.IGNORECASE,
)
FILTERED = "[Filtered]"


def _scrub(value, depth: int = 0):
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and SECRET_KEYS.search(key)
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    return value


def scrub(event, hint):
    """`before_send`: the event without secrets (never drops the event itself)."""
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value
                for name, value in headers.items()
                if not SECRET_KEYS.search(name)
            }
        request.pop("cookies", None)
        if "query_string" in request:
            request["query_string"] = FILTERED
    return _scrub(event)


def init(dsn: str, *, environment: str, release: str, traces_sample_rate: float):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
    )
