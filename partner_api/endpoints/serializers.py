"""Shapes shared by the selling endpoints: the basket (quotes and bookings), money and
local times in output, the booking, and the error body for the schema.

Sessions and ticket types are looked up among the key's organiser's published events
only. Anything else (unknown id, another organiser's, a draft event's) is the same 400
field error ("does not exist"), so a key learns nothing about other organisers' ids.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.phones import phone_normalise
from events.models import Event, Session, TicketType
from partner_api.fields import MoneySerializer, money

MAX_LINES = 20
MAX_ATTENDEES = 200


@extend_schema_field(MoneySerializer)
class MoneyField(serializers.Field):
    """`{"amount", "currency"}` from an integer attribute; the currency comes from the
    serializer context (one currency per response)."""

    def __init__(self, amount: str, **kwargs) -> None:
        self.amount = amount
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value) -> dict:
        return money(getattr(value, self.amount), self.context["currency"])


@extend_schema_field({"type": "string", "format": "date-time"})
class LocalDateTimeField(serializers.Field):
    """ISO 8601 with the offset of the event's zone (context `tz`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return timezone.localtime(value, self.context["tz"]).isoformat()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages by field path, e.g. "lines.0.quantity"',
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def organiser_sessions(organiser_id: int):
    return Session.objects.filter(
        event__organiser_id=organiser_id, event__status=Event.Status.PUBLISHED
    ).select_related("event")


class LineInput(serializers.Serializer):
    ticket_type = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class BasketShapeInput(serializers.Serializer):
    """`{"session", "lines": [{"ticket_type", "quantity"}]}`, checked for shape only:
    the booking service checks the ids under its locks (a second lookup here would
    only repeat it)."""

    session = serializers.IntegerField(min_value=1)
    lines = LineInput(many=True, allow_empty=False, max_length=MAX_LINES)
    code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="A discount code of the organiser (any case); optional",
    )


class BasketInput(BasketShapeInput):
    """The basket with its ids looked up, for quotes. Needs the context
    `organiser_id`. Validated data: `session` (a Session, its event loaded) and
    `lines` as [(TicketType, quantity)], in the request's order."""

    def validate_session(self, value: int) -> Session:
        session = organiser_sessions(self.context["organiser_id"]).filter(pk=value)
        if (found := session.first()) is None:
            raise serializers.ValidationError(_("This session does not exist."))
        return found

    def validate_lines(self, value: list[dict]) -> list[tuple[TicketType, int]]:
        ids = {line["ticket_type"] for line in value}
        known = TicketType.objects.filter(
            pk__in=ids, event__organiser_id=self.context["organiser_id"]
        ).select_related("event")
        by_id = {ticket_type.pk: ticket_type for ticket_type in known}
        missing = {
            f"{index}.ticket_type": [_("This ticket type does not exist.")]
            for index, line in enumerate(value)
            if line["ticket_type"] not in by_id
        }
        if missing:
            raise serializers.ValidationError(missing)
        return [(by_id[line["ticket_type"]], line["quantity"]) for line in value]


class PhoneField(serializers.CharField):
    """A mobile number in international form (`+33612345678`, spaces allowed),
    checked as the shop checks it and stored in E.164; anything else is a 400 field
    error. The international form because a partner's buyers are in any country."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        raw = super().to_internal_value(data)
        try:
            return phone_normalise(raw, None)
        except ValueError:
            raise serializers.ValidationError(
                _(
                    "Enter a valid phone number in international form, "
                    "e.g. +33612345678."
                )
            ) from None


class BuyerInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    phone = PhoneField(
        required=False,
        allow_blank=True,
        help_text="International form, e.g. +33612345678; stored in E.164",
    )


class AttendeeInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)


class BookingInput(BasketShapeInput):
    """The basket plus the buyer and one attendee per ticket; attendees fill the
    lines in order (the first line's quantity, then the next line's...). `lines`
    stay dicts of ids: `booking_create` looks them up under its locks, scoped to
    the key's organiser."""

    buyer = BuyerInput()
    attendees = AttendeeInput(many=True, allow_empty=False, max_length=MAX_ATTENDEES)

    def validate(self, attrs: dict) -> dict:
        quantity = sum(line["quantity"] for line in attrs["lines"])
        if len(attrs["attendees"]) != quantity:
            raise serializers.ValidationError(
                {
                    "attendees": [
                        _("Give one attendee per ticket: %(n)d expected.")
                        % {"n": quantity}
                    ]
                }
            )
        return attrs


class LineTaxOutput(serializers.Serializer):
    """The tax rate a line was priced with; null when its ticket type has none."""

    name = serializers.CharField(source="tax_name")
    percent = serializers.DecimalField(
        source="tax_percent", max_digits=6, decimal_places=3, coerce_to_string=True
    )
    code = serializers.CharField(
        source="tax_code", help_text="Accounting tax type, e.g. Xero's OUTPUT"
    )


def line_tax(line) -> dict | None:
    if not line.tax_name:
        return None
    percent = line.tax_percent
    return {
        "name": line.tax_name,
        "percent": None if percent is None else f"{percent:.3f}",
        "code": line.tax_code,
    }


class LineTaxFields(serializers.Serializer):
    net = MoneyField("net_minor", help_text="The line's total before tax")
    tax = MoneyField("tax_minor")
    tax_rate = serializers.SerializerMethodField()

    @extend_schema_field(LineTaxOutput(allow_null=True))
    def get_tax_rate(self, line) -> dict | None:
        return line_tax(line)


class BookingLineOutput(LineTaxFields):
    """`total` is what the buyer pays for the line (tax included); `net` + `tax` =
    `total`."""

    ticket_type = serializers.IntegerField(source="ticket_type_id")
    quantity = serializers.IntegerField()
    unit_price = MoneyField(
        "unit_price_minor",
        help_text="As listed: tax included, or before tax when `prices_include_tax` "
        "is false",
    )
    discount = MoneyField("discount_minor")
    total = MoneyField("total_minor")


class BookingOutput(serializers.Serializer):
    """The booking as the API returns it. Rendered by `booking_output(booking)`;
    to render with this serializer, give it the context `currency` and `tz`."""

    reference = serializers.CharField()
    status = serializers.SerializerMethodField(help_text="PENDING, CONFIRMED, ...")
    expires_at = LocalDateTimeField(allow_null=True)
    subtotal = MoneyField("subtotal_minor")
    discount = MoneyField("discount_minor")
    total = MoneyField("total_minor", help_text="What the buyer pays, tax included")
    net = MoneyField("net_minor", help_text="The total before tax")
    tax = MoneyField("tax_minor", help_text="Tax in the total, summed over lines")
    prices_include_tax = serializers.BooleanField(
        help_text="Whether listed prices include tax; if not, total = subtotal - "
        "discount + tax"
    )
    lines = BookingLineOutput(many=True)
    payment_url = serializers.SerializerMethodField()
    session = serializers.IntegerField(source="session_id")
    event = serializers.CharField(source="event.slug")
    created_at = LocalDateTimeField()

    def get_status(self, booking) -> str:
        return booking.status.upper()

    def get_payment_url(self, booking) -> str:
        return settings.SITE_URL + booking_page_path(booking.reference)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.expires_at is None:
            data["expires_at"] = None
        return data


def booking_output(booking: Booking) -> dict:
    """A booking in BookingOutput's shape (which documents it and is what tests hold
    this to), built directly: every booking the API creates is rendered here, and
    DRF's serializer, copying its declared fields for each instance, cost more CPU
    than the rest of the response. Lines are `written_lines` when booking_create
    handed them over, so nothing is read back."""
    currency = booking.currency
    tz = booking.event.tzinfo
    lines = getattr(booking, "written_lines", None)
    if lines is None:
        lines = booking.lines.all()
    return {
        "reference": booking.reference,
        "status": booking.status.upper(),
        "expires_at": None
        if booking.expires_at is None
        else timezone.localtime(booking.expires_at, tz).isoformat(),
        "subtotal": money(booking.subtotal_minor, currency),
        "discount": money(booking.discount_minor, currency),
        "total": money(booking.total_minor, currency),
        "net": money(booking.total_minor - booking.tax_minor, currency),
        "tax": money(booking.tax_minor, currency),
        "prices_include_tax": booking.prices_include_tax,
        "lines": [
            {
                "ticket_type": line.ticket_type_id,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price_minor, currency),
                "discount": money(line.discount_minor, currency),
                "total": money(line.total_minor, currency),
                "net": money(line.total_minor - line.tax_minor, currency),
                "tax": money(line.tax_minor, currency),
                "tax_rate": line_tax(line),
            }
            for line in lines
        ],
        "payment_url": settings.SITE_URL + booking_page_path(booking.reference),
        "session": booking.session_id,
        "event": booking.event.slug,
        "created_at": timezone.localtime(booking.created_at, tz).isoformat(),
    }
