"""`GET /sessions/{id}/availability/`: seats left, per ticket type.

From the availability cache (`bookings.selectors.session_availability`, at most
AVAILABILITY_CACHE_SECONDS old and never past a hold's expiry): to show, never to
promise. `POST /bookings/` decides under the session lock.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.pricing import unit_price
from bookings.selectors import session_availability
from events.models import TicketType
from events.selectors import session_is_on_sale
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
        }
    ],
}


def ticket_type_on_sale(ticket_type: TicketType, now: dt.datetime) -> bool:
    return (
        ticket_type.is_active
        and (ticket_type.sales_start_at is None or now >= ticket_type.sales_start_at)
        and (ticket_type.sales_end_at is None or now < ticket_type.sales_end_at)
    )


class AvailabilityTicketTypeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    available = serializers.IntegerField()
    price = MoneySerializer(help_text="The current unit price (early bird...)")
    on_sale = serializers.BooleanField()


class AvailabilityOutput(serializers.Serializer):
    session = serializers.IntegerField()
    capacity = serializers.IntegerField()
    available = serializers.IntegerField()
    stale = serializers.BooleanField()
    as_of = serializers.CharField(help_text="ISO 8601, the event's offset")
    ticket_types = AvailabilityTicketTypeOutput(many=True)


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
        ticket_types = list(
            event.ticket_types.filter(is_active=True).order_by("position", "pk")
        )
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
                }
                for ticket_type in ticket_types
            ],
        }
        # Built in AvailabilityOutput's shape (the schema; fuzzing checks responses
        # against it) with its final types, so it is not run through the serializer.
        return Response(data)
