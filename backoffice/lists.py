"""The bookings and attendees lists and a session's door list, as `Table`s for the
exports. Every query is cut to the scope's organisers first."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import Attendee, Booking, Ticket
from events.models import Session

from . import channels
from .reports.filters import Filters
from .scope import Scope
from .tables import INT, MONEY, Column, Table


def _local(value, tz) -> str:
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _within(field: str, filters: Filters) -> Q:
    return Q(**{f"{field}__gte": filters.start, f"{field}__lt": filters.end})


def _filtered(queryset, filters: Filters, prefix: str = ""):
    # Made or confirmed in the period: the sales report counts a sale on the day it
    # was confirmed, so a booking made the day before and paid in the period is one
    # of the period's sales and must be in its list too (a reader adds the rows up
    # against the report). Booked-at and confirmed-at columns tell the two apart.
    queryset = queryset.filter(
        _within(f"{prefix}created_at", filters)
        | _within(f"{prefix}confirmed_at", filters)
    )
    if filters.event_id:
        queryset = queryset.filter(**{f"{prefix}event_id": filters.event_id})
    if filters.session_id:
        queryset = queryset.filter(**{f"{prefix}session_id": filters.session_id})
    if filters.channel == channels.COMP:
        queryset = queryset.filter(**{f"{prefix}is_complimentary": True})
    elif filters.channel in (channels.WEB, channels.API, channels.ADMIN):
        queryset = queryset.filter(
            **{f"{prefix}channel": filters.channel, f"{prefix}is_complimentary": False}
        )
    elif filters.channel:
        queryset = queryset.none()
    return queryset


def bookings_table(scope: Scope, filters: Filters) -> Table:
    tz = scope.tzinfo
    bookings = _filtered(
        scope.filter(Booking.objects.all(), "organiser_id"), filters
    ).select_related("event", "session__venue", "discount_code")
    rows = [
        {
            "reference": booking.reference,
            "status": booking.get_status_display(),
            "channel": str(
                channels.LABELS[
                    channels.own_channel(booking.channel, booking.is_complimentary)
                ]
            ),
            "event": booking.event.title,
            "session": _local(booking.session.starts_at, tz),
            "venue": booking.session.venue.name,
            "buyer_name": booking.buyer_name,
            "buyer_email": booking.buyer_email,
            "buyer_phone": booking.buyer_phone,
            "quantity": booking.quantity,
            "subtotal": booking.subtotal_minor,
            "discount": booking.discount_minor,
            "total": booking.total_minor,
            "code": booking.discount_code.code if booking.discount_code else "",
            "created_at": _local(booking.created_at, tz),
            "confirmed_at": _local(booking.confirmed_at, tz),
            "currency": booking.currency,
        }
        for booking in bookings.order_by("created_at", "pk")
    ]
    return Table(
        title=_("Bookings"),
        columns=[
            Column("reference", _("Reference")),
            Column("status", _("Status")),
            Column("channel", _("Channel")),
            Column("event", _("Event")),
            Column("session", _("Date")),
            Column("venue", _("Venue")),
            Column("buyer_name", _("Buyer")),
            Column("buyer_email", _("Email")),
            Column("buyer_phone", _("Phone")),
            Column("quantity", _("Tickets"), INT),
            Column("subtotal", _("Subtotal"), MONEY),
            Column("discount", _("Discount"), MONEY),
            Column("total", _("Total"), MONEY),
            Column("code", _("Discount code")),
            Column("created_at", _("Booked at")),
            Column("confirmed_at", _("Confirmed at")),
        ],
        rows=rows,
    )


def attendees_table(scope: Scope, filters: Filters) -> Table:
    tz = scope.tzinfo
    attendees = _filtered(
        scope.filter(Attendee.objects.all(), "booking__organiser_id"),
        filters,
        prefix="booking__",
    ).select_related("booking__event", "booking__session", "line__ticket_type")
    tickets = dict(
        Ticket.objects.filter(attendee__in=attendees).values_list("attendee_id", "code")
    )
    rows = [
        {
            "name": attendee.name,
            "email": attendee.email,
            "ticket_type": attendee.line.ticket_type.name,
            "ticket": tickets.get(attendee.pk, ""),
            "reference": attendee.booking.reference,
            "status": attendee.booking.get_status_display(),
            "event": attendee.booking.event.title,
            "session": _local(attendee.booking.session.starts_at, tz),
            "buyer_email": attendee.booking.buyer_email,
        }
        for attendee in attendees.order_by("booking__created_at", "pk")
    ]
    return Table(
        title=_("Attendees"),
        columns=[
            Column("name", _("Name")),
            Column("email", _("Email")),
            Column("ticket_type", _("Ticket type")),
            Column("ticket", _("Ticket code")),
            Column("reference", _("Booking")),
            Column("status", _("Booking status")),
            Column("event", _("Event")),
            Column("session", _("Date")),
            Column("buyer_email", _("Buyer's email")),
        ],
        rows=rows,
    )


def door_list_table(session: Session) -> Table:
    """Everyone with a valid or used ticket for `session`, by name."""
    tickets = (
        Ticket.objects.filter(session=session)
        .exclude(status=Ticket.Status.VOID)
        .select_related("attendee", "ticket_type", "booking")
        .order_by("attendee__name", "code")
    )
    rows = [
        {
            "name": ticket.attendee.name,
            "ticket": ticket.code,
            "ticket_type": ticket.ticket_type.name,
            "reference": ticket.booking.reference,
            "checked_in": _("yes") if ticket.status == Ticket.Status.USED else "",
        }
        for ticket in tickets
    ]
    return Table(
        title=_("Door list"),
        columns=[
            Column("name", _("Name")),
            Column("ticket", _("Ticket code")),
            Column("ticket_type", _("Ticket type")),
            Column("reference", _("Booking")),
            Column("checked_in", _("Checked in")),
        ],
        rows=rows,
    )
