"""Reads shared by pages, the API and the back office."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from events import selectors as event_selectors
from events.models import Event, Session, TicketType
from ticketing.lib.degrade import cache_unavailable

from .availability import (
    SessionAvailability,
    compute_session_availability,
    seat_counts_for_sessions,
)
from .models import Booking

_CACHE_PREFIX = "availability:session:"


def _cache_key(session_id: int) -> str:
    return f"{_CACHE_PREFIX}{session_id}"


def _cache_seconds(availability: SessionAvailability) -> int:
    """Never cache past the moment the next hold expires: its seats come back then."""
    seconds = settings.AVAILABILITY_CACHE_SECONDS
    if availability.next_hold_expiry_at is not None:
        until_expiry = (
            availability.next_hold_expiry_at - timezone.now()
        ).total_seconds()
        seconds = min(seconds, max(1, math.ceil(until_expiry)))
    return seconds


def availability_invalidate(session_ids: Iterable[int]) -> None:
    try:
        cache.delete_many([_cache_key(session_id) for session_id in session_ids])
    except Exception:  # noqa: BLE001 - runs after commit; entries expire on their own
        cache_unavailable("availability invalidation")


def sessions_availability(
    sessions: Iterable[Session], ticket_types: Iterable[TicketType]
) -> dict[int, SessionAvailability]:
    """Availability per session, from the cache when fresh. To show, never to sell."""
    sessions = list(sessions)
    ticket_types = list(ticket_types)
    # With Redis down, availability is computed from PostgreSQL for every request.
    try:
        cached = cache.get_many([_cache_key(session.pk) for session in sessions])
        reachable = True
    except Exception:  # noqa: BLE001
        cache_unavailable("availability read")
        cached, reachable = {}, False
    result: dict[int, SessionAvailability] = {}
    missing = []
    for session in sessions:
        hit = cached.get(_cache_key(session.pk))
        if hit is None:
            missing.append(session)
        else:
            result[session.pk] = hit
    if missing:
        # Counted together: a constant number of queries however many dates miss.
        now = timezone.now()
        counts = seat_counts_for_sessions(missing, ticket_types, now)
        fresh = {
            session.pk: compute_session_availability(
                session,
                [tt for tt in ticket_types if tt.event_id == session.event_id],
                now,
                counts[session.pk],
            )
            for session in missing
        }
        result.update(fresh)
        if reachable:
            _cache_write(fresh)
    return {session.pk: result[session.pk] for session in sessions}


def _cache_write(fresh: dict[int, SessionAvailability]) -> None:
    """One set_many per lifetime (most share AVAILABILITY_CACHE_SECONDS)."""
    by_seconds: dict[int, dict[str, SessionAvailability]] = {}
    for session_id, availability in fresh.items():
        by_seconds.setdefault(_cache_seconds(availability), {})[
            _cache_key(session_id)
        ] = availability
    try:
        for seconds, entries in by_seconds.items():
            cache.set_many(entries, seconds)
    except Exception:  # noqa: BLE001
        cache_unavailable("availability write")


def session_availability(
    session: Session, ticket_types: Iterable[TicketType] | None = None
) -> SessionAvailability:
    """`ticket_types`: the event's active ones, when the caller has them already."""
    if ticket_types is None:
        ticket_types = event_selectors.ticket_types_active(session.event)
    return sessions_availability([session], ticket_types)[session.pk]


def event_sessions_on_sale(
    event: Event, now: dt.datetime | None = None
) -> list[Session]:
    """The sessions of `event` a buyer can book now (the one on-sale rule,
    `events.selectors.sessions_on_sale`), venue loaded, soonest first."""
    return list(
        event_selectors.sessions_on_sale(event.sessions.all(), now)
        .select_related("venue")
        .order_by("starts_at", "pk")
    )


def ticket_type_on_sale(ticket_type: TicketType, now: dt.datetime) -> bool:
    """Whether `ticket_type` itself sells at `now` (active, inside its own sales
    window); the session's and the event's windows are `session_is_on_sale`."""
    return (
        ticket_type.is_active
        and (ticket_type.sales_start_at is None or now >= ticket_type.sales_start_at)
        and (ticket_type.sales_end_at is None or now < ticket_type.sales_end_at)
    )


def booking_get(reference: str) -> Booking:
    return (
        Booking.objects.select_related("event", "session__venue", "organiser")
        .prefetch_related("lines__ticket_type", "attendees")
        .get(reference=reference)
    )
