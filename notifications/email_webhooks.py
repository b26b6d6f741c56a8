"""The email delivery-status webhook: the sending ESP's, and no other.

`include("anymail.urls")` would mount every ESP's tracking and inbound URL; the ones
nobody uses still parse what is posted to them (and answered junk with a 500). One
route, `anymail/<esp>/tracking/`, serves anymail's tracking view of the ESP whose
backend sends our email (EMAIL_BACKEND, e.g. `anymail.backends.brevo.EmailBackend`
gives `brevo`) and is a 404 for every other name, or when tracking is off.

anymail checks the HTTP basic auth of ANYMAIL["WEBHOOK_SECRET"] before it parses
anything. Without a secret it would accept anyone's events, so with DEBUG off that
is refused here too (settings refuse to start that way; this covers a secret
removed at runtime).
"""

from __future__ import annotations

import logging
from functools import cache

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

_ANYMAIL_BACKENDS = "anymail.backends."


@cache
def _tracking_views() -> dict:
    """anymail's tracking views by ESP name, read from its own URL list so that a
    new anymail ESP needs no change here."""
    from anymail import urls as anymail_urls

    suffix = "_tracking_webhook"
    return {
        pattern.name.removesuffix(suffix): pattern.callback
        for pattern in anymail_urls.urlpatterns
        if pattern.name and pattern.name.endswith(suffix)
    }


def sending_esp() -> str | None:
    """The anymail ESP our email goes out through, or None (console, SMTP...)."""
    backend = settings.EMAIL_BACKEND
    if not backend.startswith(_ANYMAIL_BACKENDS):
        return None
    return backend.removeprefix(_ANYMAIL_BACKENDS).split(".", 1)[0]


def tracking_enabled() -> bool:
    explicit = getattr(settings, "EMAIL_TRACKING", None)
    return sending_esp() is not None if explicit is None else bool(explicit)


@csrf_exempt
def email_tracking_webhook(request, esp: str):
    view = _tracking_views().get(esp)
    if view is None or esp != sending_esp() or not tracking_enabled():
        raise Http404
    if not settings.DEBUG and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        logger.error("Email tracking webhook refused: ANYMAIL_WEBHOOK_SECRET is unset")
        return HttpResponseForbidden()
    try:
        return view(request)
    except (ValueError, KeyError, TypeError, AttributeError):
        # Authenticated (anymail checks that first) but not an event we can read.
        logger.warning("Unreadable %s tracking webhook body", esp, exc_info=True)
        return HttpResponseBadRequest()
