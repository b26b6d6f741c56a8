"""Counting seats. Used under the session lock by services, and cached by selectors.

available = capacity - sold here - held (unexpired pending) - sold on external
platforms; for a ticket type with an allocation, the allocation minus its seats sold
or held in the session, never more than the session itself has left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Min, Q, Sum
from django.utils import timezone

from events.models import Session, TicketType

from .models import Booking, BookingLine


@dataclass(frozen=True, slots=True)
class TicketTypeAvailability:
    ticket_type_id: int
    allocation: int | None
    taken: int | None
    available: int


@dataclass(frozen=True, slots=True)
class SessionAvailability:
    session_id: int
    capacity: int
    sold: int
    held: int
    external_sold: int
    available: int
    external_synced_at: dt.datetime | None
    is_external_stale: bool
    next_hold_expiry_at: dt.datetime | None
    ticket_types: dict[int, TicketTypeAvailability]

    @property
    def is_sold_out(self) -> bool:
        return self.available <= 0

    def for_ticket_type(self, ticket_type_id: int) -> int:
        entry = self.ticket_types.get(ticket_type_id)
        return entry.available if entry else self.available


@dataclass(frozen=True, slots=True)
class SeatCounts:
    """What a session's bookings hold and take, when the caller has already read it
    (see `bookings.locks.ticket_types_for_share_counted`)."""

    held: int
    next_hold_expiry_at: dt.datetime | None
    taken: dict[int, int]  # seats sold or held, per ticket type with an allocation
    # `held` is the session's held_ceiling, an upper bound: fine for deciding that a
    # sale fits, not for telling a buyer what is left.
    held_is_ceiling: bool = False


def _is_stale(synced_at: dt.datetime | None, now: dt.datetime) -> bool:
    if synced_at is None:
        return False
    limit = dt.timedelta(minutes=settings.EXTERNAL_SALES_STALE_AFTER_MINUTES)
    return now - synced_at > limit


def ticket_type_taken(
    session_id: int,
    ticket_type_ids: Iterable[int],
    now: dt.datetime,
) -> dict[int, int]:
    """Seats of each ticket type sold or held in a session."""
    rows = (
        BookingLine.objects.filter(
            booking__session_id=session_id, ticket_type_id__in=list(ticket_type_ids)
        )
        .filter(
            Q(booking__status=Booking.Status.CONFIRMED)
            | Q(booking__status=Booking.Status.PENDING, booking__expires_at__gt=now)
        )
        .values_list("ticket_type_id")
        .annotate(taken=Sum("quantity"))
    )
    return dict(rows)


def _seat_counts(
    session: Session, ticket_types: list[TicketType], now: dt.datetime
) -> SeatCounts:
    # The same counts as bookings.locks._counted_sql, which sales use (one statement
    # with the ticket-type lock); change both together.
    holds = (
        Booking.objects.filter(session_id=session.pk)
        .holding(now)
        .aggregate(held=Sum("quantity"), next_expiry=Min("expires_at"))
    )
    limited = [tt.pk for tt in ticket_types if tt.allocation is not None]
    return SeatCounts(
        held=holds["held"] or 0,
        next_hold_expiry_at=holds["next_expiry"],
        taken=ticket_type_taken(session.pk, limited, now) if limited else {},
    )


def seat_counts_for_sessions(
    sessions: Iterable[Session], ticket_types: Iterable[TicketType], now: dt.datetime
) -> dict[int, SeatCounts]:
    """`_seat_counts` of many sessions in two queries, whatever their number: for
    pages that show an event's every date (500 of them for a long run)."""
    ids = [session.pk for session in sessions]
    holds = {
        row["session_id"]: row
        for row in Booking.objects.filter(session_id__in=ids)
        .holding(now)
        .values("session_id")
        .annotate(held=Sum("quantity"), next_expiry=Min("expires_at"))
        .order_by()
    }
    taken: dict[int, dict[int, int]] = {session_id: {} for session_id in ids}
    limited = [tt.pk for tt in ticket_types if tt.allocation is not None]
    if limited:
        rows = (
            BookingLine.objects.filter(
                booking__session_id__in=ids, ticket_type_id__in=limited
            )
            .filter(
                Q(booking__status=Booking.Status.CONFIRMED)
                | Q(booking__status=Booking.Status.PENDING, booking__expires_at__gt=now)
            )
            .values_list("booking__session_id", "ticket_type_id")
            .annotate(taken=Sum("quantity"))
            .order_by()
        )
        for session_id, ticket_type_id, count in rows:
            taken[session_id][ticket_type_id] = count
    return {
        session_id: SeatCounts(
            held=(holds.get(session_id) or {}).get("held") or 0,
            next_hold_expiry_at=(holds.get(session_id) or {}).get("next_expiry"),
            taken=taken[session_id],
        )
        for session_id in ids
    }


def compute_session_availability(
    session: Session,
    ticket_types: Iterable[TicketType],
    now: dt.datetime | None = None,
    counts: SeatCounts | None = None,
) -> SessionAvailability:
    """Exact availability from the database, or from `counts` read under the lock.

    Callers that decide a sale must hold the session lock while calling this.
    """
    now = now or timezone.now()
    ticket_types = list(ticket_types)
    if counts is None:
        counts = _seat_counts(session, ticket_types, now)
    held = counts.held
    session_left = max(
        0, session.capacity - session.sold_count - held - session.external_sold_count
    )
    taken = counts.taken
    per_type = {}
    for ticket_type in ticket_types:
        if ticket_type.allocation is None:
            per_type[ticket_type.pk] = TicketTypeAvailability(
                ticket_type.pk, None, None, session_left
            )
            continue
        used = taken.get(ticket_type.pk, 0)
        left = max(0, min(session_left, ticket_type.allocation - used))
        per_type[ticket_type.pk] = TicketTypeAvailability(
            ticket_type.pk, ticket_type.allocation, used, left
        )
    return SessionAvailability(
        session_id=session.pk,
        capacity=session.capacity,
        sold=session.sold_count,
        held=held,
        external_sold=session.external_sold_count,
        available=session_left,
        external_synced_at=session.external_synced_at,
        is_external_stale=session.external_sync_failing
        or _is_stale(session.external_synced_at, now),
        next_hold_expiry_at=counts.next_hold_expiry_at,
        ticket_types=per_type,
    )
