"""Marking stale holds EXPIRED, in bulk.

Availability never waits for this: an expired hold stops counting the moment its
`expires_at` passes. This flips the status, writes the audit trail, lets the layers
above write their rows in the same transaction (`bookings_expiring`: the buyers'
notices) and tells payments after commit so that open payment attempts can be cancelled.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from ticketing.models import AuditEntry

from .. import signals
from ..models import Booking
from ..selectors import availability_invalidate

logger = logging.getLogger(__name__)

# One statement per batch: flip the status and write each audit row server-side, so
# 100,000 stale holds never travel through Python.
_EXPIRE_BATCH_SQL = """
WITH expired AS (
    UPDATE {booking} SET status = %(expired)s
    WHERE id IN (
        SELECT id FROM {booking}
        WHERE status = %(pending)s AND expires_at <= %(now)s
        ORDER BY expires_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, organiser_id, session_id, reference
), audited AS (
    INSERT INTO {audit} (organiser_id, actor_id, actor_label, action,
                         content_type_id, object_id, data, created_at)
    SELECT organiser_id, NULL, 'system', %(action)s, %(content_type)s, id::text,
           jsonb_build_object('reference', reference), %(now)s
    FROM expired
)
SELECT id, session_id FROM expired
"""
_ACTION = "bookings.booking.expired"


def _expire_batch(now: dt.datetime, limit: int) -> list[tuple[int, int]]:
    """SKIP LOCKED lets two runs at once split the work, and leaves alone a hold that
    a confirmation has locked right now."""
    sql = _EXPIRE_BATCH_SQL.format(
        booking=Booking._meta.db_table, audit=AuditEntry._meta.db_table
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "expired": Booking.Status.EXPIRED,
                "pending": Booking.Status.PENDING,
                "now": now,
                "limit": limit,
                "action": _ACTION,
                "content_type": ContentType.objects.get_for_model(Booking).pk,
            },
        )
        return cursor.fetchall()


def booking_expire_stale(
    *, now: dt.datetime | None = None, batch_size: int = 20_000
) -> int:
    """Expire every pending booking whose hold has passed; returns how many. Safe to run
    twice at once. Each batch commits on its own with its audit rows and its
    notices; a batch whose notices cannot be written is rolled back and raised."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            expired = _expire_batch(now, batch_size)
            if not expired:
                break
            session_ids = {session_id for _, session_id in expired}
            booking_ids = [booking_id for booking_id, _ in expired]
            try:
                # Inside the batch: the notices commit with the expiry. A failure
                # undoes the batch (expiring again is harmless) rather than commit
                # holds whose buyers are never told.
                signals.bookings_expiring.send(sender=Booking, booking_ids=booking_ids)
            except Exception:
                logger.exception(
                    "Expiring %d holds failed; the batch is rolled back and the "
                    "next run tries it again",
                    len(booking_ids),
                )
                raise
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
