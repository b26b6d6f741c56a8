"""`GET /bookings/{reference}/tickets/`: the booking's issued tickets (paginated).

Tickets exist once a booking is CONFIRMED (one per attendee) and are voided when it is
cancelled or refunded, so a pending, cancelled or expired booking lists none. The
links carry the booking's access token, like the buyer's own: `pdf_url` is the
booking's PDF (every ticket), `qr_url` one ticket's QR code as a PNG.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers

from admission.services import booking_tickets
from bookings.access import booking_access_token

from .bookings import organiser_booking
from .serializers import ErrorSerializer, LocalDateTimeField

EXAMPLE = {
    "code": "7K3Q-XZ2M",
    "status": "VALID",
    "attendee": {"name": "Charles Babbage", "email": ""},
    "ticket_type": {"id": 4, "name": "Early bird"},
    "session": 12,
    "checked_in_at": None,
    "pdf_url": "https://tickets.example.org/b/MC26-7K3QXZ/tickets.pdf?t=...",
    "qr_url": "https://tickets.example.org/b/MC26-7K3QXZ/tickets/7K3Q-XZ2M.png?t=...",
}


class TicketAttendeeOutput(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.CharField()


class TicketTypeRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TicketOutput(serializers.Serializer):
    """Context: `tz`, `reference` and `token` (the booking's access token)."""

    code = serializers.CharField()
    status = serializers.SerializerMethodField(help_text="VALID or USED")
    attendee = TicketAttendeeOutput()
    ticket_type = TicketTypeRefOutput()
    session = serializers.IntegerField(source="session_id")
    checked_in_at = LocalDateTimeField(allow_null=True)
    pdf_url = serializers.SerializerMethodField()
    qr_url = serializers.SerializerMethodField()

    def get_status(self, ticket) -> str:
        return ticket.status.upper()

    def _absolute(self, path: str) -> str:
        return f"{settings.SITE_URL}{path}?t={self.context['token']}"

    def get_pdf_url(self, ticket) -> str:
        reference = self.context["reference"]
        path = reverse("admission:booking-tickets-pdf", args=[reference])
        return self._absolute(path)

    def get_qr_url(self, ticket) -> str:
        reference = self.context["reference"]
        path = reverse("admission:ticket-qr", args=[reference, ticket.code])
        return self._absolute(path)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.checked_in_at is None:
            data["checked_in_at"] = None
        return data


@extend_schema(
    tags=["bookings"],
    responses={200: TicketOutput(many=True), 404: ErrorSerializer},
    examples=[OpenApiExample("Ticket", value=EXAMPLE, response_only=True)],
)
class BookingTicketsApi(generics.ListAPIView):
    """Issued tickets of one booking of the key's organiser."""

    required_scope = "read"
    serializer_class = TicketOutput

    def get_queryset(self):
        self.booking = organiser_booking(self.request, self.kwargs["reference"])
        return booking_tickets(self.booking.pk)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        booking = getattr(self, "booking", None)  # None while drawing the schema
        if booking is None:
            return context
        return {
            **context,
            "tz": booking.event.tzinfo,
            "reference": booking.reference,
            "token": booking_access_token(booking.reference),
        }
