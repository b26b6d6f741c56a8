"""`/b/lookup/`: a buyer who lost the link types the reference and email, and the
booking's link goes to that email when they match.

The answer is the same whether or not they match, and so is the limit (per client
address and per email, every request counted), so neither reveals a booking. The
email is a notification row and its outbox row, written in a transaction and sent
after commit: nothing is sent inside the request, and a broker outage loses nothing
(the outbox's beat dispatch picks the row up).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ticketing.lib.hostile import text_problem

from . import signals
from .abuse import HOUR, client_ip, client_key, email_digest, rate_limit_hit
from .models import Booking

logger = logging.getLogger(__name__)


def _limited(request, email: str) -> int | None:
    """Seconds until this address and email may look up again, or None."""
    ip_retry = rate_limit_hit(
        f"lookup:ip:{client_key(client_ip(request))}",
        settings.LOOKUP_PER_IP_PER_HOUR,
        HOUR,
    )
    email_retry = rate_limit_hit(
        f"lookup:email:{email_digest(email)}", settings.LOOKUP_PER_EMAIL_PER_HOUR, HOUR
    )
    if ip_retry is None and email_retry is None:
        return None
    return max(ip_retry or 0, email_retry or 0)


@require_http_methods(["GET", "POST"])
def booking_lookup(request):
    if request.method != "POST":
        return render(request, "bookings/lookup.html")
    reference = request.POST.get("reference", "").strip().upper()[:20]
    email = request.POST.get("email", "").strip()[:254]
    if text_problem(reference) or text_problem(email):
        messages.error(
            request, _("The reference or email contains characters we cannot accept.")
        )
        return render(request, "bookings/lookup.html", status=400)
    if retry_after := _limited(request, email):
        logger.info("Booking lookup rate limited")
        response = render(
            request,
            "bookings/lookup.html",
            {
                "error": _(
                    "Too many lookups from you in a short time. Please try again later."
                )
            },
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
    with transaction.atomic():
        booking = Booking.objects.filter(
            reference=reference, buyer_email__iexact=email
        ).first()
        if booking is not None:
            signals.buyer_message_requested.send(
                sender=Booking,
                booking=booking,
                template="lookup",
                channels=("email",),
                once=False,
            )
    messages.info(
        request,
        _(
            "If that reference and email match a booking, we "
            "have sent its link to that address."
        ),
    )
    return HttpResponseRedirect(reverse("shop:booking-lookup"))
