"""Catalogue reads shared by the buyer pages and the API.

Each reader loads what its page shows in a fixed number of queries, however many
sessions and ticket types there are: sessions come with their venue, ticket types are
prefetched, nothing is fetched per row.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Event, Session, TicketType


def published_events() -> QuerySet[Event]:
    return Event.objects.filter(status=Event.Status.PUBLISHED).select_related(
        "organiser"
    )


# Why a session is not on sale, as `session_sale_closed_reason` returns it.
NOT_PUBLISHED = "not_published"
PAUSED = "paused"
CLOSED = "closed"  # sale_status CLOSED: the organiser stopped sales by hand
NOT_YET = "not_yet"  # the event's sales have not started
EVENT_SALES_ENDED = "event_sales_ended"
SALES_CLOSED = "sales_closed"  # the session's own window: at sales_close_at / start


def session_sale_closed_reason(session: Session, now: dt.datetime) -> str | None:
    """None when `session` is on sale at `now`, otherwise why not (the constants
    above). The one answer to "on sale" for pages, the API, holds and syncs: a
    session sells until its `sales_close_at` (its start when empty) while its event is
    published, its `sale_status` is on sale and `now` is inside the event's sales
    window. It stays listed (`upcoming`) until it ends. Reads `session.event`."""
    event = session.event
    if event.status != Event.Status.PUBLISHED:
        return NOT_PUBLISHED
    if session.sale_status == Session.SaleStatus.PAUSED:
        return PAUSED
    if session.sale_status != Session.SaleStatus.ON_SALE:
        return CLOSED
    if now >= session.sales_close_effective_at or now >= session.ends_at:
        return SALES_CLOSED
    if event.sales_start_at and now < event.sales_start_at:
        return NOT_YET
    if event.sales_end_at and now >= event.sales_end_at:
        return EVENT_SALES_ENDED
    return None


def session_is_on_sale(session: Session, now: dt.datetime | None = None) -> bool:
    return session_sale_closed_reason(session, now or timezone.now()) is None


def sessions_on_sale(
    sessions: QuerySet[Session], now: dt.datetime | None = None
) -> QuerySet[Session]:
    """`sessions` narrowed to those `session_sale_closed_reason` calls on sale, in
    SQL (keep the two in step)."""
    now = now or timezone.now()
    return (
        sessions.alias(
            _sales_close=Coalesce("sales_close_at", "starts_at"),
        )
        .filter(
            event__status=Event.Status.PUBLISHED,
            sale_status=Session.SaleStatus.ON_SALE,
            _sales_close__gt=now,
            ends_at__gt=now,
        )
        .filter(
            Q(event__sales_start_at__isnull=True) | Q(event__sales_start_at__lte=now)
        )
        .filter(Q(event__sales_end_at__isnull=True) | Q(event__sales_end_at__gt=now))
    )


def sessions_upcoming(
    sessions: QuerySet[Session] | None = None, now: dt.datetime | None = None
) -> QuerySet[Session]:
    """`sessions` (default: all) narrowed to the upcoming ones: those that have not
    ended. The one meaning of "upcoming" for pages, the API, the admin and syncs: a
    session is listed from its creation until its `ends_at`, so a session that has
    started is still shown (with its sales closed, see `session_sale_closed_reason`).
    """
    sessions = Session.objects.all() if sessions is None else sessions
    return sessions.filter(ends_at__gt=now or timezone.now())


def sessions_ended(
    sessions: QuerySet[Session] | None = None, now: dt.datetime | None = None
) -> QuerySet[Session]:
    """The complement of `sessions_upcoming`."""
    sessions = Session.objects.all() if sessions is None else sessions
    return sessions.filter(ends_at__lte=now or timezone.now())


def ticket_types_active(event: Event | None = None) -> QuerySet[TicketType]:
    """The ticket types on offer (of `event`, if given), in display order: the one
    list pages, the API and checkout show. Whether each sells right now (its own
    sales window) is `bookings.selectors.ticket_type_on_sale`."""
    ticket_types = TicketType.objects.filter(is_active=True)
    if event is not None:
        ticket_types = ticket_types.filter(event=event)
    return ticket_types.order_by("position", "pk")


def _upcoming_sessions(now: dt.datetime, city: str = "") -> QuerySet[Session]:
    sessions = sessions_upcoming(now=now).select_related("venue")
    if city:
        sessions = sessions.filter(venue__city__iexact=city)
    return sessions.order_by("starts_at", "pk")


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
    own_upcoming = upcoming.filter(event=OuterRef("pk"))
    return (
        published_events()
        .filter(Exists(own_upcoming))
        .annotate(next_starts_at=Subquery(own_upcoming.values("starts_at")[:1]))
        .prefetch_related(
            Prefetch("sessions", queryset=upcoming, to_attr="upcoming_sessions"),
            Prefetch(
                "ticket_types",
                queryset=ticket_types_active(),
                to_attr="active_ticket_types",
            ),
        )
        .order_by("next_starts_at", "title", "pk")
    )


def published_event_cities(now: dt.datetime | None = None) -> list[str]:
    """Cities with an upcoming session of a published event, for the city filter."""
    now = now or timezone.now()
    cities = list(
        sessions_upcoming(now=now)
        .filter(event__status=Event.Status.PUBLISHED)
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
                queryset=ticket_types_active(),
                to_attr="active_ticket_types",
            ),
        )
        .get(slug=slug)
    )
