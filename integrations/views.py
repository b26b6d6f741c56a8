"""Inbound webhooks of the platforms. The path's token identifies the connection;
nothing in the body is trusted (see services/webhooks.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ticketing.inbound import body_size_limited
from ticketing.lib.clientip import client_bucket

from .services.webhooks import platform_webhook_receive


def _receive(request: HttpRequest, platform: str, token: str) -> JsonResponse:
    received = platform_webhook_receive(
        platform=platform, token=token, body=request.body, source=client_bucket(request)
    )
    return JsonResponse({"status": received.message}, status=received.status_code)


@csrf_exempt
@require_POST
@body_size_limited
def eventbrite_webhook(request: HttpRequest, token: str) -> JsonResponse:
    return _receive(request, "eventbrite", token)


@csrf_exempt
@require_POST
@body_size_limited
def humanitix_webhook(request: HttpRequest, token: str) -> JsonResponse:
    return _receive(request, "humanitix", token)
