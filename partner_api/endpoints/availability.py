"""`GET /sessions/{id}/availability/`: seats left, per ticket type.

From the availability cache (`bookings.selectors.session_availability`, at most
AVAILABILITY_CACHE_SECONDS old and never past a hold's expiry): to show, never to
promise. `POST /bookings/` decides under the session lock.
"""

from __future__ import annotations

import functools

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.pricing import unit_price
from bookings.selectors import session_availability, ticket_type_on_sale
from events.models import Event, Session, TicketType
from events.selectors import session_is_on_sale
from partner_api.fields import MoneySerializer, money
from ticketing.lib.sql import columns, select_models

from .serializers import ErrorSerializer

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


def session_with_ticket_types(
    organiser_id: int, pk: int
) -> tuple[Session, list[TicketType]]:
    """The organiser's published session `pk` with its event, and the event's active
    ticket types in display order (what `organiser_sessions` and
    `ticket_types_active` select), in one statement: the ORM's two cost this
    endpoint more CPU to build than to run. Http404 if there is no such session."""
    rows = select_models(
        _session_with_ticket_types_sql(),
        [pk, organiser_id, Event.Status.PUBLISHED],
        (Session, Event, TicketType),
    )
    if not rows:
        raise Http404("No such session.")
    session, event, _first = rows[0]
    session.event = event
    ticket_types = []
    for _session, _event, ticket_type in rows:
        if ticket_type.pk is not None:  # the LEFT JOIN's row of an event without any
            ticket_type.event = event
            ticket_types.append(ticket_type)
    return session, ticket_types


@functools.cache
def _session_with_ticket_types_sql() -> str:
    return (
        f"SELECT {columns(Session, 's')}, {columns(Event, 'e')}, "
        f"{columns(TicketType, 't')} "
        f'FROM "{Session._meta.db_table}" s '
        f'JOIN "{Event._meta.db_table}" e ON e.id = s.event_id '
        f'LEFT JOIN "{TicketType._meta.db_table}" t '
        "ON t.event_id = e.id AND t.is_active "
        "WHERE s.id = %s AND e.organiser_id = %s AND e.status = %s "
        "ORDER BY t.position, t.id"
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
        session, ticket_types = session_with_ticket_types(request.user.organiser_id, pk)
        now = timezone.now()
        event = session.event
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
