"""Marking stale holds EXPIRED, in bulk.

Availability never waits for this: an expired hold stops counting the moment its
`expires_at` passes. This flips the status, writes the audit trail and tells payments
(after commit) so that open payment attempts can be cancelled.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.utils import timezone

from ticketing.audit import audit_log_many

from .. import signals
from ..models import Booking
from ..selectors import availability_invalidate

logger = logging.getLogger(__name__)

_EXPIRE_BATCH_SQL = """
UPDATE {table} SET status = %(expired)s
WHERE id IN (
    SELECT id FROM {table}
    WHERE status = %(pending)s AND expires_at <= %(now)s
    ORDER BY expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, organiser_id, session_id, reference
"""


def _expire_batch(now: dt.datetime, limit: int) -> list[Booking]:
    """One set-based UPDATE. SKIP LOCKED lets two runs at once split the work, and
    leaves alone a hold that a confirmation has locked right now."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _EXPIRE_BATCH_SQL.format(table=Booking._meta.db_table),
                {
                    "expired": Booking.Status.EXPIRED,
                    "pending": Booking.Status.PENDING,
                    "now": now,
                    "limit": limit,
                },
            )
            rows = cursor.fetchall()
    else:
        rows = list(
            Booking.objects.stale(now)
            .order_by("expires_at")
            .values_list("id", "organiser_id", "session_id", "reference")[:limit]
        )
        Booking.objects.stale(now).filter(pk__in=[row[0] for row in rows]).update(
            status=Booking.Status.EXPIRED
        )
    return [
        Booking(
            pk=pk, organiser_id=organiser_id, session_id=session_id, reference=reference
        )
        for pk, organiser_id, session_id, reference in rows
    ]


def booking_expire_stale(
    *, now: dt.datetime | None = None, batch_size: int = 20_000
) -> int:
    """Expire every pending booking whose hold has passed; returns how many. Safe to run
    twice at once. Each batch commits on its own with its audit rows."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            expired = _expire_batch(now, batch_size)
            if not expired:
                break
            audit_log_many(
                action="bookings.booking.expired",
                objects=expired,
                organiser_id_of=lambda booking: booking.organiser_id,
                data_of=lambda booking: {"reference": booking.reference},
            )
            session_ids = {booking.session_id for booking in expired}
            booking_ids = [booking.pk for booking in expired]
            transaction.on_commit(lambda ids=session_ids: availability_invalidate(ids))
            transaction.on_commit(
                lambda ids=booking_ids: signals.bookings_expired.send(
                    sender=Booking, booking_ids=ids
                )
            )
        total += len(expired)
        if len(expired) < batch_size:
            break
    if total:
        logger.info("Expired %d stale holds", total)
    return total
