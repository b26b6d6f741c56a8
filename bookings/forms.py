"""The checkout form: session, quantities, buyer, one attendee per ticket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from events.models import Event, Session, TicketType
from ticketing.forms import CleanTextMixin

from .abuse import HONEYPOT_FIELD
from .phones import phone_normalise


def quantity_field_name(ticket_type_id: int) -> str:
    return f"qty_{ticket_type_id}"


def requested_quantities(
    data: Mapping, ticket_types: Sequence[TicketType]
) -> dict[int, int]:
    """Quantities as posted, read leniently: how many attendee rows to show."""
    quantities = {}
    for ticket_type in ticket_types:
        try:
            quantity = int(data.get(quantity_field_name(ticket_type.pk)) or 0)
        except (TypeError, ValueError):
            quantity = 0
        quantities[ticket_type.pk] = max(0, min(quantity, ticket_type.max_per_order))
    return quantities


class SessionSelect(forms.Select):
    """A select whose sold-out sessions are shown but cannot be chosen."""

    def __init__(self, *args, unavailable=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unavailable = set(unavailable)

    def create_option(self, name, value, label, selected, index, **kwargs):
        option = super().create_option(name, value, label, selected, index, **kwargs)
        if value in self.unavailable:
            option["attrs"]["disabled"] = True
        return option


class CheckoutForm(CleanTextMixin, forms.Form):
    session = forms.TypedChoiceField(label=_("Date"), coerce=int)
    buyer_name = forms.CharField(label=_("Your name"), max_length=200)
    buyer_email = forms.EmailField(label=_("Email"))
    buyer_phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        required=False,
        help_text=_("Optional: for a text message with your tickets."),
    )
    code = forms.CharField(
        label=_("Discount code"), max_length=40, required=False
    )
    # A uuid4 hex minted at render time; the bound keeps `web:<token>` inside the
    # booking's idempotency_key column whatever a client posts.
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    # Optional: an invoice to a company (invoicing issues it on confirmation).
    invoice_requested = forms.BooleanField(
        label=_("I need an invoice for a company"), required=False
    )
    billing_name = forms.CharField(
        label=_("Company name"), max_length=200, required=False
    )
    billing_address = forms.CharField(
        label=_("Company address"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    billing_tax_id = forms.CharField(
        label=_("Tax or VAT number"), max_length=40, required=False
    )
    BILLING_FIELDS = (
        "invoice_requested",
        "billing_name",
        "billing_address",
        "billing_tax_id",
    )

    def __init__(
        self,
        *args,
        event: Event,
        sessions: Sequence[Session],
        ticket_types: Sequence[TicketType],
        attendee_count: int,
        sold_out_sessions: frozenset[int] | set[int] = frozenset(),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.event = event
        self.ticket_types = list(ticket_types)
        self.fields["session"].widget = SessionSelect(unavailable=sold_out_sessions)
        self.fields["session"].choices = [
            (session.pk, self._choice_label(session, session.pk in sold_out_sessions))
            for session in sessions
        ]
        for ticket_type in self.ticket_types:
            self.fields[quantity_field_name(ticket_type.pk)] = forms.IntegerField(
                label=ticket_type.name,
                min_value=0,
                max_value=min(ticket_type.max_per_order, event.max_tickets_per_order),
                required=False,
                initial=0,
                error_messages={
                    "max_value": _(
                        "At most %(limit_value)s tickets of this type per order."
                    ),
                    "min_value": _("Enter 0 or more."),
                    "invalid": _("Enter a whole number, e.g. 2."),
                },
            )
        self.attendee_count = attendee_count
        for index in range(attendee_count):
            self.fields[f"attendee_name_{index}"] = forms.CharField(
                label=_("Name on ticket %(n)d") % {"n": index + 1}, max_length=200
            )
            self.fields[f"attendee_email_{index}"] = forms.EmailField(
                label=_("Email for ticket %(n)d (optional)") % {"n": index + 1},
                required=False,
            )
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            required=False, label=_("Leave this empty")
        )

    def _session_label(self, session: Session) -> str:
        starts = timezone.localtime(session.starts_at, session.tzinfo)
        when = formats.date_format(starts, "DATETIME_FORMAT")
        return f"{session.venue.city} · {when} {starts:%Z}"

    def _choice_label(self, session: Session, sold_out: bool) -> str:
        label = self._session_label(session)
        if sold_out:
            return _("%(session)s (sold out)") % {"session": label}
        return label

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("invoice_requested") and not cleaned.get("billing_name"):
            self.add_error("billing_name", _("Give the company name for the invoice."))
        return cleaned

    def billing(self):
        """The company details for a BillingInput, or None when not asked for."""
        data = self.cleaned_data
        if not data.get("invoice_requested"):
            return None
        return data["billing_name"], data["billing_address"], data["billing_tax_id"]

    def clean_buyer_phone(self) -> str:
        raw = self.cleaned_data.get("buyer_phone", "")
        try:
            return phone_normalise(raw, self.event.organiser.country)
        except ValueError:
            raise forms.ValidationError(
                _("Enter a valid phone number, e.g. +33 6 12 34 56 78.")
            ) from None

    def quantity_fields(self):
        return [
            (ticket_type, self[quantity_field_name(ticket_type.pk)])
            for ticket_type in self.ticket_types
        ]

    def attendee_fields(self):
        return [
            (self[f"attendee_name_{index}"], self[f"attendee_email_{index}"])
            for index in range(self.attendee_count)
        ]

    def attendees(self) -> list[tuple[str, str]]:
        return [
            (
                self.cleaned_data.get(f"attendee_name_{index}", ""),
                self.cleaned_data.get(f"attendee_email_{index}", ""),
            )
            for index in range(self.attendee_count)
        ]

    def add_service_errors(
        self, fields: Mapping[str, list[str]], lines: Sequence[tuple[TicketType, int]]
    ) -> None:
        """Put a service's field errors (`lines.0.quantity`, `buyer.email`...) next to
        the form fields they are about."""
        for key, messages in fields.items():
            parts = key.split(".")
            target = None
            if parts[0] == "lines" and len(parts) > 1 and int(parts[1]) < len(lines):
                target = quantity_field_name(lines[int(parts[1])][0].pk)
            elif parts[0] == "attendees" and len(parts) > 2:
                target = f"attendee_{parts[2]}_{parts[1]}"
            elif parts[0] == "buyer" and len(parts) > 1:
                target = f"buyer_{parts[1]}"
            elif parts[0] in ("session", "code"):
                target = parts[0]
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
