"""Webhook endpoints and the Paystack return. They store and hand over; no logic."""

import logging

from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bookings.exceptions import InventoryBusy
from ticketing.inbound import body_size_limited
from ticketing.lib.clientip import client_bucket

from .accounts import connect_webhook_verifiers
from .models import Payment, Provider
from .providers.base import ProviderError, WebhookSignatureError
from .services import payment_settle_reference, webhook_receive

logger = logging.getLogger(__name__)


def _receive(provider: str, request, verifiers=None) -> JsonResponse:
    try:
        webhook_receive(
            provider=provider,
            body=request.body,
            headers=request.headers,
            source=client_bucket(request),
            verifiers=verifiers,
        )
    except WebhookSignatureError:
        return JsonResponse(
            {
                "error": {
                    "code": "invalid_signature",
                    "message": "Signature not verified.",
                }
            },
            status=400,
        )
    return JsonResponse({"received": True})


@csrf_exempt
@require_POST
@body_size_limited
def stripe_webhook(request):
    return _receive(Provider.STRIPE, request)


@csrf_exempt
@require_POST
@body_size_limited
def stripe_connect_webhook(request):
    """Stripe's Connect endpoint (events of organisers' connected accounts, such as
    `account.updated`), signed with its own secret."""
    return _receive(Provider.STRIPE, request, verifiers=connect_webhook_verifiers())


@csrf_exempt
@require_POST
@body_size_limited
def paystack_webhook(request):
    return _receive(Provider.PAYSTACK, request)


@require_GET
def paystack_return(request):
    """Where Paystack sends the buyer back: verify at once, then show the booking,
    which says whether it is paid, or why not and how to book again. No access
    token is added: the reference alone must not open a booking (the browser
    session that made it has access)."""
    reference = (request.GET.get("reference") or request.GET.get("trxref") or "")[:200]
    payment = (
        Payment.objects.filter(provider=Provider.PAYSTACK, provider_reference=reference)
        .select_related("booking")
        .first()
    )
    if payment is None:
        return HttpResponseRedirect("/")
    suffix = ""
    try:
        payment_settle_reference(
            provider=Provider.PAYSTACK, provider_reference=reference, source="callback"
        )
    except (ProviderError, InventoryBusy):
        logger.warning("Paystack verification on return failed", exc_info=True)
        suffix = "?error=verify"
    return HttpResponseRedirect(f"/b/{payment.booking.reference}/{suffix}")
