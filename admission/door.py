"""What the door page reads: the sessions staff may check in, their labels in local
time, and the live count of who is in.

Reads only; the check-in itself is `admission.checkin`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from bookings.models import Ticket
from events.models import Session
from ticketing.lib.localtime import local_datetime

# A session stays among "today and upcoming" this long after it ends, so a late
# arrival at a show that ran past midnight can still be let in.
STILL_AT_THE_DOOR = dt.timedelta(hours=6)
# Past sessions offered (latest first), for a late check-in or a correction.
PAST_SESSIONS_SHOWN = 20


def session_label(session: Session) -> str:
    """ "Lyon, 18 Jan 20:00 CET": the city and the local start, in the active
    language, as door staff say it ("Lyon, 18 jan. 20:00 CET")."""
    # Translators: a Django date format; French takes "j N H:i T" (jan., juil.).
    label_format = gettext("j M H:i T")
    when = local_datetime(session.starts_at, session, label_format)
    return f"{session.venue.city}, {when}"


def _sessions_of(organiser_ids: Collection[int]):
    return Session.objects.filter(
        event__organiser_id__in=list(organiser_ids)
    ).select_related("event", "venue")


@dataclass(frozen=True)
class DoorSessions:
    upcoming: list[Session]  # today's and later, soonest first
    past: list[Session]  # the latest first

    @property
    def all(self) -> list[Session]:
        return [*self.upcoming, *self.past]


def door_sessions(
    organiser_ids: Collection[int], *, now: dt.datetime | None = None
) -> DoorSessions:
    """The sessions the door may pick among: today's and upcoming first."""
    cutoff = (now or timezone.now()) - STILL_AT_THE_DOOR
    sessions = _sessions_of(organiser_ids)
    return DoorSessions(
        upcoming=list(sessions.filter(ends_at__gte=cutoff).order_by("starts_at", "pk")),
        past=list(
            sessions.filter(ends_at__lt=cutoff).order_by("-starts_at", "-pk")[
                :PAST_SESSIONS_SHOWN
            ]
        ),
    )


def sessions_by_id(
    session_ids: Collection[int], organiser_ids: Collection[int]
) -> list[Session]:
    """Those of `session_ids` that belong to `organiser_ids`, soonest first (a
    remembered choice loses a session its user may no longer check in)."""
    return list(
        _sessions_of(organiser_ids)
        .filter(pk__in=list(session_ids))
        .order_by("starts_at", "pk")
    )


@dataclass(frozen=True)
class TypeCount:
    ticket_type_id: int
    name: str
    checked_in: int
    expected: int


@dataclass(frozen=True)
class DoorCount:
    """Checked in / expected: tickets used / tickets not void."""

    checked_in: int = 0
    expected: int = 0
    by_type: list[TypeCount] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "checked_in": self.checked_in,
            "expected": self.expected,
            "ticket_types": [
                {
                    "id": row.ticket_type_id,
                    "name": row.name,
                    "checked_in": row.checked_in,
                    "expected": row.expected,
                }
                for row in self.by_type
            ],
        }


def door_count(session_ids: Collection[int]) -> DoorCount:
    """Who is in, of the sessions' tickets, in total and per ticket type (in the
    ticket types' own order). One grouped query."""
    rows = (
        Ticket.objects.filter(session_id__in=list(session_ids))
        .exclude(status=Ticket.Status.VOID)
        .values("ticket_type_id", "ticket_type__name")
        .annotate(
            expected=Count("pk"),
            checked_in=Count("pk", filter=Q(status=Ticket.Status.USED)),
        )
        .order_by("ticket_type__event_id", "ticket_type__position", "ticket_type_id")
    )
    by_type = [
        TypeCount(
            ticket_type_id=row["ticket_type_id"],
            name=row["ticket_type__name"],
            checked_in=row["checked_in"],
            expected=row["expected"],
        )
        for row in rows
    ]
    return DoorCount(
        checked_in=sum(row.checked_in for row in by_type),
        expected=sum(row.expected for row in by_type),
        by_type=by_type,
    )
