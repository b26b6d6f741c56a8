"""`GET /events/` and `GET /events/{slug}/`: the organiser's published catalogue."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from bookings.pricing import unit_price
from events.models import Event
from events.selectors import session_is_on_sale, sessions_upcoming, ticket_types_active
from partner_api.fields import MoneySerializer, money

from .serializers import ErrorSerializer


class TicketTypeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.SerializerMethodField()
    regular_price = serializers.SerializerMethodField()
    min_per_order = serializers.IntegerField(
        help_text="Fewest tickets of this type one booking may take (a group "
        "ticket may need 5); a line below it is a 400 on `lines.<i>.quantity`"
    )
    max_per_order = serializers.IntegerField(
        help_text="Most tickets of this type one booking may take; the event's "
        "`max_tickets_per_order` caps all types together"
    )

    @extend_schema(responses=MoneySerializer)
    def get_price(self, ticket_type) -> dict:
        price_minor, _rule = unit_price(ticket_type, self.context["now"])
        return money(price_minor, ticket_type.event.currency)

    def get_regular_price(self, ticket_type) -> dict:
        return money(ticket_type.price_minor, ticket_type.event.currency)


class SessionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    city = serializers.CharField(source="venue.city")
    venue = serializers.CharField(source="venue.name")
    address = serializers.CharField(source="venue.address")
    capacity = serializers.IntegerField()
    on_sale = serializers.SerializerMethodField()

    def get_on_sale(self, session) -> bool:
        return session_is_on_sale(session, self.context.get("now"))


class EventOutput(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    timezone = serializers.CharField()
    max_tickets_per_order = serializers.IntegerField(
        help_text="Most tickets of all types together in one booking"
    )
    sessions = SessionOutput(many=True, source="upcoming_sessions")


class EventDetailOutput(EventOutput):
    ticket_types = TicketTypeOutput(many=True, source="active_ticket_types")


def _moment(params, name: str) -> dt.datetime | None:
    """A date or datetime filter; a date means its midnight in UTC. Anything else is
    a 400 naming the parameter, never a 500."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        day = parse_date(raw)
        moment = parse_datetime(raw) or (
            dt.datetime.combine(day, dt.time()) if day else None
        )
    except ValueError:
        moment = None
    if moment is None:
        raise serializers.ValidationError(
            {name: ["Use an ISO 8601 date or datetime, e.g. 2026-12-01."]}
        )
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


def _events_for(request):
    upcoming = sessions_upcoming().select_related("venue").order_by("starts_at")
    params = request.query_params
    if starts_after := _moment(params, "starts_after"):
        upcoming = upcoming.filter(starts_at__gte=starts_after)
    if starts_before := _moment(params, "starts_before"):
        upcoming = upcoming.filter(starts_at__lt=starts_before)
    if city := params.get("city"):
        upcoming = upcoming.filter(venue__city__iexact=city)
    events = Event.objects.filter(
        organiser_id=request.user.organiser_id, status=Event.Status.PUBLISHED
    )
    if any(params.get(name) for name in ("starts_after", "starts_before", "city")):
        events = events.filter(sessions__in=upcoming).distinct()
    return events.prefetch_related(
        Prefetch("sessions", queryset=upcoming, to_attr="upcoming_sessions"),
        Prefetch(
            "ticket_types",
            queryset=ticket_types_active().select_related("event"),
            to_attr="active_ticket_types",
        ),
    ).order_by("title")


_FILTERS = [
    OpenApiParameter(
        "starts_after",
        str,
        description="ISO 8601 date or datetime; anything else is a 400",
    ),
    OpenApiParameter(
        "starts_before",
        str,
        description="ISO 8601 date or datetime; anything else is a 400",
    ),
    OpenApiParameter("city", str, description="a session's city (case-insensitive)"),
]


class _CatalogueMixin:
    required_scope = "read"

    def get_queryset(self):
        return _events_for(self.request)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


@extend_schema(
    parameters=_FILTERS,
    tags=["catalogue"],
    responses={
        200: EventOutput(many=True),
        400: ErrorSerializer,
        404: ErrorSerializer,  # a page past the end
    },
)
class EventListApi(_CatalogueMixin, generics.ListAPIView):
    """Published events of the key's organiser, with their upcoming sessions."""

    serializer_class = EventOutput


@extend_schema(
    tags=["catalogue"], responses={200: EventDetailOutput, 404: ErrorSerializer}
)
class EventDetailApi(_CatalogueMixin, generics.RetrieveAPIView):
    """One event with its sessions and ticket types (current prices)."""

    serializer_class = EventDetailOutput
    lookup_field = "slug"
