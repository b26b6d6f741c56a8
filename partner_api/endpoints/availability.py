"""`GET /sessions/{id}/availability/`: seats left, per ticket type.

From the availability cache (`bookings.selectors.session_availability`, at most
AVAILABILITY_CACHE_SECONDS old and never past a hold's expiry): to show, never to
promise. `POST /bookings/` decides under the session lock.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.pricing import unit_price
from bookings.selectors import session_availability, ticket_type_on_sale
from events.selectors import session_is_on_sale, ticket_types_active
from partner_api.fields import MoneySerializer, money

from .serializers import ErrorSerializer, organiser_sessions

EXAMPLE = {
    "session": 12,
    "capacity": 120,
    "available": 37,
    "stale": False,
    "as_of": "2026-11-22T10:00:00+01:00",
    "ticket_types": [
        {
            "id": 4,
            "name": "Early bird",
            "available": 10,
            "price": {"amount": 4500, "currency": "EUR"},
            "on_sale": True,
            "min_per_order": 1,
            "max_per_order": 10,
        }
    ],
    "max_tickets_per_order": 20,
}


class AvailabilityTicketTypeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    available = serializers.IntegerField()
    price = MoneySerializer(help_text="The current unit price (early bird...)")
    on_sale = serializers.BooleanField()
    min_per_order = serializers.IntegerField(
        help_text="Fewest tickets of this type one booking may take (a group "
        "ticket may need 5); a line below it is a 400 on `lines.<i>.quantity`"
    )
    max_per_order = serializers.IntegerField(
        help_text="Most tickets of this type one booking may take; the event's "
        "`max_tickets_per_order` caps all types together"
    )


class AvailabilityOutput(serializers.Serializer):
    session = serializers.IntegerField()
    capacity = serializers.IntegerField()
    available = serializers.IntegerField()
    stale = serializers.BooleanField()
    as_of = serializers.CharField(help_text="ISO 8601, the event's offset")
    ticket_types = AvailabilityTicketTypeOutput(many=True)
    max_tickets_per_order = serializers.IntegerField(
        help_text="Most tickets of all types together in one booking"
    )


class SessionAvailabilityApi(APIView):
    """Live availability of one session of the key's organiser, per ticket type.
    `stale` is true when external-platform sales in the figure come from a sync
    older than its TTL."""

    required_scope = "read"

    @extend_schema(
        tags=["catalogue"],
        operation_id="session_availability",
        responses={200: AvailabilityOutput, 404: ErrorSerializer},
        examples=[OpenApiExample("Availability", value=EXAMPLE)],
    )
    def get(self, request, pk: int):
        session = get_object_or_404(
            organiser_sessions(request.user.organiser_id), pk=pk
        )
        now = timezone.now()
        event = session.event
        ticket_types = list(ticket_types_active(event))
        availability = session_availability(session, ticket_types)
        selling = session_is_on_sale(session, now)
        data = {
            "session": session.pk,
            "capacity": availability.capacity,
            "available": availability.available,
            "stale": availability.is_external_stale,
            "as_of": timezone.localtime(now, event.tzinfo).isoformat(),
            "ticket_types": [
                {
                    "id": ticket_type.pk,
                    "name": ticket_type.name,
                    "available": availability.for_ticket_type(ticket_type.pk),
                    "price": money(unit_price(ticket_type, now)[0], event.currency),
                    "on_sale": selling and ticket_type_on_sale(ticket_type, now),
                    "min_per_order": ticket_type.min_per_order,
                    "max_per_order": ticket_type.max_per_order,
                }
                for ticket_type in ticket_types
            ],
            "max_tickets_per_order": event.max_tickets_per_order,
        }
        # Built in AvailabilityOutput's shape (the schema; fuzzing checks responses
        # against it) with its final types, so it is not run through the serializer.
        return Response(data)
