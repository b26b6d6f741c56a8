"""Checkout: from the event page to a hold, and the booking lookup.

One form, usable without JavaScript: "Update" re-renders it with one row per ticket
and the server's price summary; "Book" holds the seats and goes to the booking page.
Prices and availability shown here are the server's; the hold decides again under the
locks.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.mail import send_mail
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from events import selectors as event_selectors
from events.models import Session
from ticketing.lib.hostile import text_problem

from .abuse import HONEYPOT_FIELD, checkout_guard, client_ip, honeypot_tripped
from .access import booking_page_path, remember_booking
from .exceptions import BasketInvalid, BookingError, SoldOut
from .forms import CheckoutForm, requested_quantities
from .models import Booking
from .pricing import PriceQuote, price_basket
from .services import AttendeeInput, BuyerInput, LineInput, booking_create

logger = logging.getLogger(__name__)


def _bookable_sessions(event):
    return list(
        event.sessions.filter(
            sale_status=Session.SaleStatus.ON_SALE, ends_at__gt=timezone.now()
        )
        .select_related("venue")
        .order_by("starts_at")
    )


@require_http_methods(["GET", "POST"])
def checkout(request, slug: str):
    event = get_object_or_404(
        event_selectors.published_events().select_related("organiser"), slug=slug
    )
    sessions = _bookable_sessions(event)
    ticket_types = list(
        event.ticket_types.filter(is_active=True).order_by("position", "pk")
    )
    quote: PriceQuote | None = None
    sold_out: SoldOut | None = None

    if request.method == "GET":
        form = CheckoutForm(
            event=event,
            sessions=sessions,
            ticket_types=ticket_types,
            attendee_count=0,
            initial={"session": request.GET.get("session"), "token": uuid.uuid4().hex},
        )
        return _render(request, event, form, quote, sold_out)

    if honeypot_tripped(request.POST):
        logger.info("Checkout honeypot tripped for event %s", event.pk)
        return HttpResponseBadRequest(_("Your request could not be processed."))
    quantities = requested_quantities(request.POST, ticket_types)
    form_kwargs = {
        "event": event,
        "sessions": sessions,
        "ticket_types": ticket_types,
        "attendee_count": sum(quantities.values()),
    }
    lines = [(tt, quantities[tt.pk]) for tt in ticket_types if quantities[tt.pk]]
    basket_errors: dict[str, list[str]] = {}
    if lines:
        try:
            quote = price_basket(event=event, lines=lines)
        except BasketInvalid as error:
            basket_errors = error.fields
    if request.POST.get("action") != "book":
        # "Update": the same form with more rows and the price; no errors shown yet.
        form = CheckoutForm(initial=request.POST.dict(), **form_kwargs)
        return _render(request, event, form, quote, sold_out)

    form = CheckoutForm(request.POST, **form_kwargs)
    if not form.is_valid():
        return _render(request, event, form, quote, sold_out)
    if not lines:
        form.add_error(None, _("Choose at least one ticket."))
    if basket_errors:
        form.add_service_errors(basket_errors, lines)
    if form.errors:
        return _render(request, event, form, quote, sold_out)
    try:
        checkout_guard(ip=client_ip(request), email=form.cleaned_data["buyer_email"])
        booking = booking_create(
            session_id=form.cleaned_data["session"],
            lines=[
                LineInput(ticket_type.pk, quantity) for ticket_type, quantity in lines
            ],
            buyer=BuyerInput(
                name=form.cleaned_data["buyer_name"],
                email=form.cleaned_data["buyer_email"],
                phone=form.cleaned_data["buyer_phone"],
            ),
            attendees=[AttendeeInput(name, email) for name, email in form.attendees()],
            channel=Booking.Channel.WEB,
            idempotency_key=f"web:{form.cleaned_data['token']}",
            language=request.LANGUAGE_CODE,
        )
    except BasketInvalid as error:
        form.add_service_errors(error.fields, lines)
    except SoldOut as error:
        sold_out = error
        form.add_error(None, error.message)
    except BookingError as error:
        form.add_error(None, error.message)
    else:
        remember_booking(request, booking.reference)
        return HttpResponseRedirect(booking_page_path(booking.reference))
    return _render(request, event, form, quote, sold_out)


def _render(request, event, form, quote, sold_out):
    left = sold_out.ticket_types_available if sold_out else {}
    quantity_rows = [
        (ticket_type, field, left.get(ticket_type.pk))
        for ticket_type, field in form.quantity_fields()
    ]
    return render(
        request,
        "bookings/checkout.html",
        {
            "event": event,
            "form": form,
            "quote": quote,
            "sold_out": sold_out,
            "quantity_rows": quantity_rows,
            "honeypot_field": HONEYPOT_FIELD,
        },
        status=200 if not form.errors else 400,
    )


@require_http_methods(["GET", "POST"])
def booking_lookup(request):
    """Reference and email: if they match, the booking's link goes to that email.
    The answer is the same either way, so it reveals nothing."""
    if request.method == "POST":
        reference = request.POST.get("reference", "").strip().upper()[:20]
        email = request.POST.get("email", "").strip()[:254]
        if text_problem(reference) or text_problem(email):
            messages.error(
                request,
                _("The reference or email contains characters we cannot accept."),
            )
            return render(request, "bookings/lookup.html", status=400)
        booking = Booking.objects.filter(
            reference=reference, buyer_email__iexact=email
        ).first()
        if booking is not None:
            link = request.build_absolute_uri(booking_page_path(booking.reference))
            send_mail(
                subject=_("Your booking %(reference)s") % {"reference": reference},
                message=_("Here is the link to your booking:\n\n%(link)s\n")
                % {"link": link},
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[email],
            )
        messages.info(
            request,
            _(
                "If that reference and email match a booking, we "
                "have sent its link to that address."
            ),
        )
        return HttpResponseRedirect(reverse("shop:booking-lookup"))
    return render(request, "bookings/lookup.html")
