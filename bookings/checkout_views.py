"""Checkout: from the event page to a hold.

One form, usable without JavaScript: "Update" re-renders it with one row per ticket
and the server's price summary; "Book" holds the seats and goes to the booking page.
Prices and availability shown here are the server's; the hold decides again under the
locks. A refused "Book" shows the same form, filled in, with its status saying why:
400 for what the buyer can fix in the form, 409 sold out, 429 over a hold limit, 503
busy (with Retry-After).

The form's token stops a double submit from holding twice: it becomes the booking's
idempotency key, but only bound to the browser and to the basket (session, ticket
types, quantities, buyer email). The same token posted from another browser, or
with another basket, is a new attempt: it never leads to the booking it first made.
The browser is a random id in a cookie set by the form's page, not a Django session:
anonymous page views write no session row; one is made only when a booking is.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import uuid

from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from events import selectors as event_selectors

from . import selectors
from .abuse import (
    HONEYPOT_FIELD,
    TooManyHolds,
    checkout_guard,
    client_ip,
    client_key,
    honeypot_tripped,
    seats_reserve,
)
from .access import booking_access_granted, booking_page_path, remember_booking
from .checkout_display import error_summary, quantity_rows, sold_out_sessions
from .discounts import discount_code_get
from .exceptions import BasketInvalid, BookingError, InventoryBusy, SoldOut
from .forms import CheckoutForm, quantity_field_name, requested_quantities
from .models import Booking
from .pricing import PriceQuote, price_basket
from .services import (
    AttendeeInput,
    BillingInput,
    BuyerInput,
    LineInput,
    booking_create,
)

logger = logging.getLogger(__name__)


BROWSER_COOKIE = "checkout_browser"
_BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def _browser_id(request) -> str:
    """This browser's checkout id: its cookie, or a new one the response sets."""
    value = request.COOKIES.get(BROWSER_COOKIE, "")
    if not _BROWSER_ID.fullmatch(value):
        value = getattr(request, "_new_browser_id", "") or secrets.token_urlsafe(24)
        request._new_browser_id = value
    return value


def _sets_browser_cookie(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if new := getattr(request, "_new_browser_id", ""):
            response.set_cookie(
                BROWSER_COOKIE,
                new,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    return wrapped


def _idempotency_key(request, form: CheckoutForm, lines) -> str:
    """The form's token bound to this browser session and this basket."""
    basket = ",".join(
        f"{ticket_type.pk}x{quantity}"
        for ticket_type, quantity in sorted(lines, key=lambda line: line[0].pk)
    )
    material = "|".join(
        [
            form.cleaned_data["token"],
            _browser_id(request),
            str(form.cleaned_data["session"]),
            basket,
            form.cleaned_data["buyer_email"].strip().lower(),
        ]
    )
    digest = salted_hmac("bookings.checkout.token", material, algorithm="sha256")
    return f"web:{digest.hexdigest()}"


@require_http_methods(["GET", "POST"])
@_sets_browser_cookie
def checkout(request, slug: str):
    event = get_object_or_404(
        event_selectors.published_events().select_related("organiser"), slug=slug
    )
    sessions = selectors.event_sessions_on_sale(event)
    ticket_types = list(event_selectors.ticket_types_active(event))
    sold_out_ids = sold_out_sessions(sessions, ticket_types)
    quote: PriceQuote | None = None
    sold_out: SoldOut | None = None
    form_kwargs = {
        "event": event,
        "sessions": sessions,
        "ticket_types": ticket_types,
        "sold_out_sessions": sold_out_ids,
    }

    if request.method == "GET":
        _browser_id(request)  # so that a double submit shares it
        initial, attendee_count = _initial(request, event, sessions, sold_out_ids)
        form = CheckoutForm(
            initial=initial, attendee_count=attendee_count, **form_kwargs
        )
        if attendee_count:
            lines = [
                (tt, initial[quantity_field_name(tt.pk)])
                for tt in ticket_types
                if initial.get(quantity_field_name(tt.pk))
            ]
            quote = _quote_or_none(event, lines)
        return _render(request, event, form, quote, sold_out, sessions)

    if honeypot_tripped(request.POST):
        logger.info("Checkout honeypot tripped for event %s", event.pk)
        return HttpResponseBadRequest(_("Your request could not be processed."))
    quantities = requested_quantities(request.POST, ticket_types)
    form_kwargs["attendee_count"] = sum(quantities.values())
    lines = [(tt, quantities[tt.pk]) for tt in ticket_types if quantities[tt.pk]]
    basket_errors: dict[str, list[str]] = {}
    if lines:
        try:
            quote = price_basket(
                event=event,
                lines=lines,
                code=discount_code_get(
                    organiser_id=event.organiser_id, text=request.POST.get("code", "")
                ),
                session=_chosen(sessions, request.POST.get("session")),
            )
        except BasketInvalid as error:
            basket_errors = error.fields
    form = CheckoutForm(request.POST, **form_kwargs)
    form.is_valid()
    if request.POST.get("action") != "book":
        # "Update": the same form with more rows and the price. Only the tickets'
        # errors show (a quantity under a ticket's minimum stays visible); the
        # buyer has not filled the rest in yet.
        for name in [name for name in form.errors if not name.startswith("qty_")]:
            del form.errors[name]
        form.add_service_errors(basket_errors, lines)
        return _render(request, event, form, quote, sold_out, sessions, status=200)

    # Every error at once, the basket's with the fields', so that none appears
    # only after the others are fixed (or disappears meanwhile).
    if not lines:
        form.add_error(None, _("Choose at least one ticket."))
    form.add_service_errors(basket_errors, lines)
    if form.errors:
        return _render(request, event, form, quote, sold_out, sessions)
    idempotency_key = _idempotency_key(request, form, lines)
    if reference := _booked_already(event, idempotency_key):
        # A double submit: its booking, before any limit counts it again.
        return _to_booking(request, reference)
    ip = client_ip(request)
    email = form.cleaned_data["buyer_email"]
    status = 400
    try:
        checkout_guard(ip=ip, email=email)
        reservation = seats_reserve(
            ip=ip, email=email, seats=sum(quantity for _, quantity in lines)
        )
        try:
            booking = booking_create(
                session_id=form.cleaned_data["session"],
                lines=[
                    LineInput(ticket_type.pk, quantity)
                    for ticket_type, quantity in lines
                ],
                buyer=BuyerInput(
                    name=form.cleaned_data["buyer_name"],
                    email=email,
                    phone=form.cleaned_data["buyer_phone"],
                ),
                attendees=[
                    AttendeeInput(name, attendee_email)
                    for name, attendee_email in form.attendees()
                ],
                channel=Booking.Channel.WEB,
                idempotency_key=idempotency_key,
                language=request.LANGUAGE_CODE,
                client_key=client_key(ip),
                billing=BillingInput(*billing) if (billing := form.billing()) else None,
                discount_code=form.cleaned_data["code"],
            )
        except BaseException:
            reservation.release()
            raise
        if not hasattr(booking, "written_lines"):  # a double submit: no new seats
            reservation.release()
    except BasketInvalid as error:
        form.add_service_errors(error.fields, lines)
    except SoldOut as error:
        # 409 as on the API (ARCHITECTURE, "Rules the issues assume"): the form was
        # fine, the seats are gone; the page shows what is left.
        status = 409
        sold_out = error
        form.add_error(None, error.message)
    except TooManyHolds as error:
        status = 429
        form.add_error(None, error.message)
    except InventoryBusy as error:
        # Nothing was held: the same form, filled in, to send again after the wait.
        seconds = error.retry_after_seconds
        form.add_error(
            None,
            ngettext(
                "We're very busy right now: please try again in %(n)d second.",
                "We're very busy right now: please try again in %(n)d seconds.",
                seconds,
            )
            % {"n": seconds},
        )
        response = _render(request, event, form, quote, sold_out, sessions, status=503)
        response["Retry-After"] = str(seconds)
        return response
    except BookingError as error:
        form.add_error(None, error.message)
    else:
        return _to_booking(request, booking.reference)
    return _render(request, event, form, quote, sold_out, sessions, status=status)


def _chosen(sessions, posted):
    return next((s for s in sessions if str(s.pk) == str(posted)), None)


def _booked_already(event, idempotency_key: str) -> str | None:
    return (
        Booking.objects.filter(
            organiser_id=event.organiser_id, idempotency_key=idempotency_key
        )
        .values_list("reference", flat=True)
        .first()
    )


def _to_booking(request, reference: str) -> HttpResponseRedirect:
    remember_booking(request, reference)
    return HttpResponseRedirect(booking_page_path(reference))


def _quote_or_none(event, lines) -> PriceQuote | None:
    try:
        return price_basket(event=event, lines=lines) if lines else None
    except BasketInvalid:
        return None


def _initial(request, event, sessions, sold_out_ids) -> tuple[dict, int]:
    """The form's first values: the session asked for (or the first one that can be
    booked), or everything from an earlier booking of this buyer (`?again=<ref>`
    with its access token: "try again" after a failed payment or an expired hold).
    Returns (initial, attendee rows)."""
    initial: dict = {"token": uuid.uuid4().hex}
    selectable = [s.pk for s in sessions if s.pk not in sold_out_ids]
    try:
        asked = int(request.GET.get("session", ""))
    except ValueError:
        asked = None
    attendee_count = 0
    again = request.GET.get("again", "")
    if again and booking_access_granted(request, again):
        booking = (
            Booking.objects.filter(reference=again, event=event)
            .prefetch_related("lines", "attendees")
            .first()
        )
        if booking is not None:
            asked = booking.session_id
            initial.update(
                buyer_name=booking.buyer_name,
                buyer_email=booking.buyer_email,
                buyer_phone=booking.buyer_phone,
            )
            for line in booking.lines.all():
                initial[quantity_field_name(line.ticket_type_id)] = line.quantity
            attendees = list(booking.attendees.all())
            for index, attendee in enumerate(attendees):
                initial[f"attendee_name_{index}"] = attendee.name
                initial[f"attendee_email_{index}"] = attendee.email
            attendee_count = len(attendees)
    if asked not in selectable and selectable:
        asked = selectable[0]
    initial["session"] = asked
    return initial, attendee_count


def _chosen_session(form, sessions):
    value = form["session"].value()
    try:
        chosen = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        chosen = None
    return next((s for s in sessions if s.pk == chosen), None)


def _render(request, event, form, quote, sold_out, sessions, status=400):
    rows = quantity_rows(
        form,
        _chosen_session(form, sessions),
        fresher=sold_out.ticket_types_available if sold_out else None,
    )
    return render(
        request,
        "bookings/checkout.html",
        {
            "event": event,
            "form": form,
            "quote": quote,
            "sold_out": sold_out,
            "quantity_rows": rows,
            "error_summary": error_summary(form, rows),
            "event_limit": event.max_tickets_per_order,
            "honeypot_field": HONEYPOT_FIELD,
        },
        status=200 if not form.errors else status,
    )
