"""Twilio's SMS status callback.

Twilio signs each callback: `X-Twilio-Signature` is an HMAC-SHA1, keyed with
TWILIO_AUTH_TOKEN, of the full URL it called followed by the POST parameters. The URL
is rebuilt as `settings.SITE_URL` + the request's path and query string, never from
the Host header: SITE_URL must be exactly the public origin Twilio calls (scheme,
host, and port if any), which is also the origin of the StatusCallback URL we send.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from .models import Notification
from .services.delivery_reports import notification_status_update

logger = logging.getLogger(__name__)

# Twilio MessageStatus → ours; queued, sending, sent and the like change nothing.
_STATUSES = {
    "delivered": Notification.Status.DELIVERED,
    "read": Notification.Status.DELIVERED,
    "undelivered": Notification.Status.FAILED,
    "failed": Notification.Status.FAILED,
}


@csrf_exempt
@require_POST
def twilio_status(request):
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.SITE_URL + request.get_full_path()
    if not (
        token
        and signature
        and RequestValidator(token).validate(url, request.POST, signature)
    ):
        logger.warning("Twilio status callback with a bad or missing signature")
        return HttpResponseForbidden()
    status = _STATUSES.get(request.POST.get("MessageStatus", ""))
    if status is not None:
        error_code = request.POST.get("ErrorCode", "")
        notification_status_update(
            channel=Notification.Channel.SMS,
            provider_message_id=request.POST.get("MessageSid", ""),
            status=status,
            notification_id=request.GET.get("notification"),
            error=f"twilio {request.POST['MessageStatus']} {error_code}".strip(),
        )
    return HttpResponse(status=204)
