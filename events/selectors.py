"""Catalogue reads shared by the buyer pages and the API.

Each reader loads what its page shows in a fixed number of queries, however many
sessions and ticket types there are: sessions come with their venue, ticket types are
prefetched, nothing is fetched per row.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, Min, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import Event, Session, TicketType


def published_events() -> QuerySet[Event]:
    return Event.objects.filter(status=Event.Status.PUBLISHED).select_related(
        "organiser"
    )


def _upcoming_sessions(now: dt.datetime, city: str = "") -> QuerySet[Session]:
    sessions = Session.objects.filter(starts_at__gte=now).select_related("venue")
    if city:
        sessions = sessions.filter(venue__city__iexact=city)
    return sessions.order_by("starts_at", "pk")


def _active_ticket_types() -> QuerySet[TicketType]:
    return TicketType.objects.filter(is_active=True).order_by("position", "pk")


def published_event_list(
    city: str | None = None, now: dt.datetime | None = None
) -> QuerySet[Event]:
    """Published events with an upcoming session (in `city`, if given), soonest first.

    Each event carries `next_starts_at`, `upcoming_sessions` (a list, soonest first,
    venue loaded; only those in `city` when filtered) and `active_ticket_types`.
    """
    now = now or timezone.now()
    city = (city or "").strip()
    upcoming = _upcoming_sessions(now, city)
    next_filter = Q(sessions__starts_at__gte=now)
    if city:
        next_filter &= Q(sessions__venue__city__iexact=city)
    return (
        published_events()
        .filter(Exists(upcoming.filter(event=OuterRef("pk"))))
        .annotate(next_starts_at=Min("sessions__starts_at", filter=next_filter))
        .prefetch_related(
            Prefetch("sessions", queryset=upcoming, to_attr="upcoming_sessions"),
            Prefetch(
                "ticket_types",
                queryset=_active_ticket_types(),
                to_attr="active_ticket_types",
            ),
        )
        .order_by("next_starts_at", "title", "pk")
    )


def published_event_cities(now: dt.datetime | None = None) -> list[str]:
    """Cities with an upcoming session of a published event, for the city filter."""
    now = now or timezone.now()
    cities = list(
        Session.objects.filter(event__status=Event.Status.PUBLISHED, starts_at__gte=now)
        .order_by("venue__city")
        .values_list("venue__city", flat=True)
        .distinct()
    )
    unique = {city.casefold(): city for city in reversed(cities)}  # "Paris" ~ "paris"
    return sorted(unique.values(), key=str.casefold)


def published_event_detail(slug: str, now: dt.datetime | None = None) -> Event:
    """A published event by slug, with its upcoming sessions and active ticket types.

    The event carries `upcoming_sessions` (venue loaded, soonest first) and
    `active_ticket_types` (in display order). Raises `Event.DoesNotExist` for a draft,
    cancelled, archived or unknown event.
    """
    now = now or timezone.now()
    return (
        published_events()
        .prefetch_related(
            Prefetch(
                "sessions",
                queryset=_upcoming_sessions(now),
                to_attr="upcoming_sessions",
            ),
            Prefetch(
                "ticket_types",
                queryset=_active_ticket_types(),
                to_attr="active_ticket_types",
            ),
        )
        .get(slug=slug)
    )
