"""How much of one session a single buyer may hold at once, decided under its lock.

A hold hoarder takes seats without paying, under many emails from one address or
from many addresses under one email, until the session looks sold out. Holds are
counted in seats, not bookings: no buyer email and no client address may hold (as
unexpired pending bookings) more than `session_hold_share(session)` seats of a
session. The share is the event's per-order maximum, or HOLD_MAX_SESSION_SHARE_PERCENT
of the session's capacity when that is more, so one full order always fits.

The count must be exact, so it runs under the session lock; it is skipped when the
session's held ceiling (never below the seats held by everybody) already leaves this
buyer inside the share, which is most sales. Sold (paid) seats do not count: a
hoarder does not pay.
"""

from __future__ import annotations

import datetime as dt
import functools
import math

from django.conf import settings
from django.db import connection

from events.models import Session

from ..availability import SeatCounts
from ..exceptions import HoldLimitReached
from ..models import Booking


def session_hold_share(session: Session) -> int:
    """Seats one email or address may hold in `session` at once."""
    percent = settings.HOLD_MAX_SESSION_SHARE_PERCENT
    share = math.ceil(session.capacity * percent / 100)
    return max(session.event.max_tickets_per_order, share)


def hold_share_check(
    *,
    session: Session,
    counts: SeatCounts | None,
    seats_wanted: int,
    email: str,
    client_key: str | None,
    now: dt.datetime,
) -> None:
    """Raise HoldLimitReached when `email` (any case) or `client_key` would hold more
    than its share of `session` with `seats_wanted` more. Call it with the session
    lock held; `counts` is what the sale counted under it."""
    share = session_hold_share(session)
    held_by_anyone = counts.held if counts is not None else None
    if held_by_anyone is not None and held_by_anyone + seats_wanted <= share:
        return
    by_email, by_client = _held_by(session.pk, email.strip(), client_key, now)
    held = max(by_email, by_client)
    if held + seats_wanted > share:
        raise HoldLimitReached(seats_left=max(0, share - held))


def _held_by(
    session_id: int, email: str, client_key: str | None, now: dt.datetime
) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            _held_by_sql(),
            {
                "session": session_id,
                "email": email,
                "client": client_key or None,
                "now": now,
            },
        )
        by_email, by_client = cursor.fetchone()
    return by_email, by_client


@functools.cache
def _held_by_sql() -> str:
    # The status is written in, not bound, so that a prepared statement's generic
    # plan can still use the partial indexes of pending bookings (by email, by
    # client). A NULL client matches no row.
    pending = Booking.Status.PENDING.value
    return f"""
SELECT COALESCE(SUM(quantity) FILTER (WHERE UPPER(buyer_email) = UPPER(%(email)s)), 0),
       COALESCE(SUM(quantity) FILTER (WHERE client_key = %(client)s), 0)
FROM "{Booking._meta.db_table}"
WHERE status = '{pending}' AND expires_at > %(now)s AND session_id = %(session)s
  AND (UPPER(buyer_email) = UPPER(%(email)s) OR client_key = %(client)s)
"""
