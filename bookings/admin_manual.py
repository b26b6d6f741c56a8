"""Adding a booking by hand in the back office: paid offline, or complimentary.

The organiser picks a session first (a plain GET, no JavaScript needed), then the
ticket types of its event, the buyer and the attendees. The booking goes through the
one selling service (`booking_create`, channel `admin`) under the same locks as every
sale, so it never oversells; it is confirmed at once, its tickets are issued and the
confirmation with the tickets is sent as for any sale. Comps are flagged on the
booking (`is_complimentary`) so that reports count them apart.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from events.models import Session
from events.selectors import ticket_types_active
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    STAFF,
    is_superuser,
    user_organiser_ids,
    user_roles,
)
from ticketing.forms import CleanTextMixin

from .exceptions import BasketInvalid, BookingError
from .models import Booking
from .services import AttendeeInput, BuyerInput, LineInput, booking_create

PAID_OFFLINE = "offline"
COMPLIMENTARY = "comp"
# Comps give seats away: owners and managers only. Staff may record offline sales.
COMP_ROLES = (OWNER, MANAGER)


class SessionChoiceForm(forms.Form):
    session = forms.ModelChoiceField(
        queryset=Session.objects.none(), label=_lazy("Date")
    )

    def __init__(self, *args, sessions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = sessions


class ManualBookingForm(CleanTextMixin, forms.Form):
    session = forms.IntegerField(widget=forms.HiddenInput)
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    payment = forms.ChoiceField(
        label=_lazy("Payment"),
        choices=[
            (PAID_OFFLINE, _lazy("Paid offline (cash, transfer, invoice)")),
            (COMPLIMENTARY, _lazy("Complimentary (free, counted as comps)")),
        ],
        widget=forms.RadioSelect,
        initial=PAID_OFFLINE,
    )
    buyer_name = forms.CharField(label=_lazy("Buyer's name"), max_length=200)
    buyer_email = forms.EmailField(label=_lazy("Buyer's email"))
    buyer_phone = forms.CharField(
        label=_lazy("Buyer's mobile phone"), max_length=32, required=False
    )
    attendees = forms.CharField(
        label=_lazy("Attendees"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_lazy(
            "One per line, in the order of the tickets above: “Name” or “Name, "
            "email”. Tickets without a line carry the buyer's name."
        ),
    )
    code = forms.CharField(label=_lazy("Discount code"), max_length=40, required=False)

    def __init__(self, *args, ticket_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket_types = list(ticket_types)
        for ticket_type in self.ticket_types:
            self.fields[f"qty_{ticket_type.pk}"] = forms.IntegerField(
                label=ticket_type.name, min_value=0, initial=0, required=False
            )

    def quantity_fields(self):
        return [self[f"qty_{tt.pk}"] for tt in self.ticket_types]

    def lines(self) -> list[LineInput]:
        return [
            LineInput(tt.pk, self.cleaned_data.get(f"qty_{tt.pk}") or 0)
            for tt in self.ticket_types
            if self.cleaned_data.get(f"qty_{tt.pk}")
        ]

    def clean(self):
        data = super().clean()
        if not self.errors and not self.lines():
            raise forms.ValidationError(_("Choose at least one ticket."))
        return data

    def attendee_inputs(self, quantity: int) -> list[AttendeeInput]:
        given = []
        for row in (self.cleaned_data.get("attendees") or "").splitlines():
            if not row.strip():
                continue
            name, _sep, email = row.partition(",")
            given.append(AttendeeInput(name=name.strip(), email=email.strip()))
        fallback = AttendeeInput(name=self.cleaned_data["buyer_name"])
        return (given + [fallback] * quantity)[:quantity] if quantity else given


def _sessions(request):
    queryset = (
        Session.objects.select_related("event", "venue")
        .filter(ends_at__gte=timezone.now() - dt.timedelta(days=1))
        .order_by("starts_at")
    )
    if is_superuser(request):
        return queryset
    return queryset.filter(
        event__organiser_id__in=user_organiser_ids(request, (OWNER, MANAGER, STAFF))
    )


def manual_booking_view(model_admin, request):
    """The admin's "Add booking" page (BookingAdmin.add_view)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    sessions = _sessions(request)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Booking._meta,
        "title": _("Add a booking"),
    }
    session_id = request.POST.get("session") or request.GET.get("session")
    session = sessions.filter(pk=session_id).first() if session_id else None
    if session is None:
        # Bound when a date was sent: one of another organiser's says why it failed.
        form = SessionChoiceForm(
            {"session": session_id} if session_id else None, sessions=sessions
        )
        if session_id:
            form.is_valid()
        context.update(_admin_form_context(form, ["session"]), session_form=form)
        return TemplateResponse(request, "admin/bookings/manual_booking.html", context)

    ticket_types = ticket_types_active(session.event)
    if request.method == "POST":
        form = ManualBookingForm(request.POST, ticket_types=ticket_types)
        if form.is_valid() and (booking := _book(request, form, session)):
            messages.success(
                request,
                _("Booking %(ref)s made; its tickets are on their way to %(email)s.")
                % {"ref": booking.reference, "email": booking.buyer_email},
            )
            return HttpResponseRedirect(
                reverse("admin:bookings_booking_change", args=[booking.pk])
            )
    else:
        form = ManualBookingForm(
            ticket_types=ticket_types,
            initial={"session": session.pk, "token": uuid.uuid4().hex},
        )
    context.update(_admin_form_context(form, list(form.fields)))
    context.update({"form": form, "session": session})
    return TemplateResponse(request, "admin/bookings/manual_booking.html", context)


def _admin_form_context(form, fields) -> dict:
    """The names the admin's own add pages give their form (tools read them)."""
    return {
        "adminform": helpers.AdminForm(form, [(None, {"fields": fields})], {}),
        "inline_admin_formsets": [],
    }


def _book(request, form: ManualBookingForm, session) -> Booking | None:
    complimentary = form.cleaned_data["payment"] == COMPLIMENTARY
    organiser_id = session.event.organiser_id
    if complimentary and not (
        is_superuser(request) or user_roles(request).get(organiser_id) in COMP_ROLES
    ):
        form.add_error("payment", _("Only owners and managers may give comps."))
        return None
    lines = form.lines()
    quantity = sum(line.quantity for line in lines)
    try:
        return booking_create(
            session_id=session.pk,
            lines=lines,
            buyer=BuyerInput(
                name=form.cleaned_data["buyer_name"],
                email=form.cleaned_data["buyer_email"],
                phone=form.cleaned_data["buyer_phone"],
            ),
            attendees=form.attendee_inputs(quantity),
            channel=Booking.Channel.ADMIN,
            idempotency_key=f"admin:{form.cleaned_data['token']}",
            actor=request.user,
            discount_code="" if complimentary else form.cleaned_data["code"],
            complimentary=complimentary,
            confirm=not complimentary,
        )
    except BasketInvalid as error:
        for key, problems in error.fields.items():
            target = _field_for(form, key, lines)
            for problem in problems:
                form.add_error(target, problem)
    except BookingError as error:
        form.add_error(None, error.message)
    return None


def _field_for(form, key: str, lines) -> str | None:
    parts = key.split(".")
    if parts[0] == "lines" and len(parts) > 1 and int(parts[1]) < len(lines):
        return f"qty_{lines[int(parts[1])].ticket_type_id}"
    if parts[0] == "buyer" and len(parts) > 1:
        return f"buyer_{parts[1]}"
    if parts[0] in ("code", "attendees"):
        return parts[0]
    return None
