"""The buyer's booking page (`/b/<reference>/`): status, countdown, payment, tickets.

It lives in payments because it offers the payment step; access needs the signed
token from the booking's links or the browser session that made the booking.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from bookings.access import booking_access_granted, booking_page_path, rebook_path
from bookings.exceptions import InvalidTransition, InventoryBusy
from bookings.models import Booking
from bookings.selectors import booking_get
from bookings.services import booking_cancel

from .accounts import credentials_for, providers_offered
from .exceptions import PaymentError
from .failures import payment_failure_reason
from .models import Payment, Provider
from .providers.base import ProviderError
from .services import (
    offline_instructions,
    payment_offline_choose,
    payment_settle,
    payment_start,
)

logger = logging.getLogger(__name__)

# What the payment step needs beyond the site's own Content-Security-Policy
# (settings.CONTENT_SECURITY_POLICY), added only to a page that offers it: Stripe.js
# and its card and 3-D Secure frames, and Paystack's checkout page, which the
# "Pay with Paystack" form reaches through our redirect (form-action covers that).
STRIPE_CSP = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ],
    "connect-src": ["https://api.stripe.com"],
    "img-src": ["https://*.stripe.com"],
}
PAYSTACK_CSP = {"form-action": ["https://checkout.paystack.com"]}


def _booking_or_404(request, reference: str) -> Booking:
    if not booking_access_granted(request, reference):
        raise Http404
    try:
        return booking_get(reference)
    except Booking.DoesNotExist:
        raise Http404 from None


def _state(booking: Booking, latest: Payment | None) -> str:
    if booking.status == Booking.Status.CONFIRMED:
        return "confirmed"
    if (
        booking.status == Booking.Status.CANCELLED
        and booking.confirmed_at is None
        and latest is not None
        and latest.status == Payment.Status.FAILED
    ):
        return "payment_failed"  # declined: the seats went back at once
    if booking.status in (Booking.Status.CANCELLED, Booking.Status.REFUNDED):
        return booking.status
    if latest is not None and latest.status in (
        Payment.Status.SUCCEEDED,
        Payment.Status.MISMATCH,
    ):
        return "paid_unfulfilled"  # paid, but the seats could not be given
    if not booking.is_holding:
        return "expired"
    if (
        latest is not None
        and latest.events.filter(
            status__in=["failed", "requires_payment_method"],
            action__startswith="verified",
        ).exists()
    ):
        return "failed"
    return "pending"


@require_GET
def booking_page(request, reference: str):
    booking = _booking_or_404(request, reference)
    returned_intent = request.GET.get("payment_intent", "")
    if returned_intent:
        # Back from Stripe: check with Stripe now rather than wait for the webhook.
        payment = booking.payments.filter(
            provider=Provider.STRIPE, provider_reference=returned_intent
        ).first()
        if payment is not None:
            try:
                payment_settle(payment_id=payment.pk, source="return")
            except (ProviderError, PaymentError, InventoryBusy):
                logger.warning(
                    "Settling on return failed for %s", reference, exc_info=True
                )
            booking = booking_get(reference)
    latest = booking.payments.order_by("-created_at").first()
    state = _state(booking, latest)
    context = {
        "booking": booking,
        "state": state,
        "latest_payment": latest,
        "processing": state == "pending"
        and request.GET.get("redirect_status") in ("succeeded", "processing"),
        "page_error": _PAGE_ERRORS.get(request.GET.get("error", ""), ""),
        "failure_reason": payment_failure_reason(latest),
        "rebook_url": rebook_path(booking),
    }
    if state in ("pending", "failed") and booking.total_minor > 0:
        context.update(_payment_step(request, booking, latest))
    response = render(request, "payments/booking.html", context)
    csp: dict[str, list[str]] = {}
    if context.get("stripe"):
        csp.update(STRIPE_CSP)
    if Provider.PAYSTACK in context.get("providers", ()):
        csp.update(PAYSTACK_CSP)
    if csp:
        response._csp_update = csp  # django-csp's per-response addition
    return response


_PAGE_ERRORS = {
    "paystack": gettext_lazy(
        "Paystack could not be reached. Please try again in a moment."
    ),
    "busy": gettext_lazy("We're busy, please try again in a moment."),
    "offline": gettext_lazy("Bank transfer is not available for this booking."),
    "verify": gettext_lazy(
        "We could not check your payment with Paystack yet. This page shows the "
        "result as soon as Paystack tells us; you do not need to pay again."
    ),
}


def _payment_step(request, booking: Booking, latest: Payment | None) -> dict:
    if (
        latest is not None
        and latest.provider == Provider.OFFLINE
        and latest.status == Payment.Status.PENDING
    ):
        # The buyer chose to pay by transfer: their instructions, and no card form
        # (each view of one would open a payment at the provider).
        return {"offline": offline_instructions(booking), "can_cancel": True}
    offered = providers_offered(booking.organiser_id)
    step = {
        "providers": offered,
        "stripe": None,
        "payment_error": "",
        # Nothing to pay with: say so, and let the buyer give the seats back.
        "no_provider": not offered,
        "can_cancel": not offered,
    }
    if Provider.STRIPE in offered:
        return_url = request.build_absolute_uri(booking_page_path(booking.reference))
        try:
            payment = payment_start(
                booking_id=booking.pk, provider=Provider.STRIPE, return_url=return_url
            )
            step["stripe"] = {
                "publishable_key": credentials_for(
                    booking.organiser_id, Provider.STRIPE
                ).public_key,
                "client_secret": payment.client_secret,
                "return_url": return_url,
            }
        except (ProviderError, PaymentError):
            logger.warning(
                "Could not open a Stripe payment for %s",
                booking.reference,
                exc_info=True,
            )
            step["payment_error"] = _(
                "Card payment is unavailable right now. Please try again in a moment."
            )
    return step


@require_POST
def booking_pay_paystack(request, reference: str):
    booking = _booking_or_404(request, reference)
    try:
        payment = payment_start(
            booking_id=booking.pk,
            provider=Provider.PAYSTACK,
            return_url=request.build_absolute_uri(reverse("payments:paystack-return")),
        )
    except (ProviderError, PaymentError):
        logger.warning(
            "Could not open a Paystack payment for %s", reference, exc_info=True
        )
        return HttpResponseRedirect(booking_page_path(reference) + "&error=paystack")
    return HttpResponseRedirect(payment.redirect_url)


@require_POST
def booking_pay_offline(request, reference: str):
    """The buyer pays by bank transfer: back to the page, which shows how."""
    booking = _booking_or_404(request, reference)
    error = ""
    try:
        payment_offline_choose(booking_id=booking.pk)
    except InventoryBusy:
        error = "busy"
    except PaymentError:
        logger.info("Bank transfer refused for %s", reference, exc_info=True)
        error = "offline"
    suffix = f"&error={error}" if error else ""
    return HttpResponseRedirect(booking_page_path(reference) + suffix)


@require_POST
def booking_cancel_by_buyer(request, reference: str):
    """The buyer gives an unpaid hold back; its seats return at once. A paid booking
    is not cancelled here (that is a refund, the organiser's call)."""
    booking = _booking_or_404(request, reference)
    error = ""
    if booking.status == Booking.Status.PENDING:
        try:
            booking_cancel(
                booking_id=booking.pk, actor="buyer", reason="cancelled by the buyer"
            )
        except InventoryBusy:
            error = "&error=busy"
        except InvalidTransition:
            pass  # expired or paid meanwhile: the page says which
    return HttpResponseRedirect(booking_page_path(reference) + error)
