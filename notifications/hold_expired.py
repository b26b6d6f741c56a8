"""The hold-expired notice of every booking an expiry batch turned EXPIRED.

`bookings_expired` comes once per expiry batch (up to 20,000 bookings) after its
commit. The notices are written a chunk of bookings at a time in a fixed number of
statements (lock the chunk's bookings, find the ones told already, insert the rows,
insert their outbox rows), not a transaction per booking (bench/README.md,
"Expiry", has what that cost).

Exactly once per booking, as `booking_notice_queue` does it for one: the bookings are
locked (in id order, so two runs at once queue behind each other instead of
deadlocking) before the query that looks for notices written already, so a replayed
signal or a second run finds the first one's rows and writes nothing. A booking paid
meanwhile (no longer EXPIRED) gets nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from bookings.models import Booking

from . import services
from .models import Notification

logger = logging.getLogger(__name__)

# Bookings per transaction: their rows stay locked only while the chunk is written
# (a late payment of one of them waits that long), and a failure costs one chunk.
CHUNK = 1000
TEMPLATE = Notification.Template.HOLD_EXPIRED


def hold_expired_notices_queue(booking_ids: Iterable[int]) -> int:
    """Queue the notice of every EXPIRED booking of `booking_ids` not told yet;
    returns how many bookings got one. A chunk that fails is logged and skipped
    (the expiry is committed already; it must not be undone or stopped by this)."""
    ids = sorted(set(booking_ids))
    queued = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        try:
            queued += _queue_chunk(chunk)
        except Exception:
            logger.exception(
                "Could not queue the hold-expired notices of %d bookings (ids %s-%s)",
                len(chunk),
                chunk[0],
                chunk[-1],
            )
    return queued


def _queue_chunk(booking_ids: list[int]) -> int:
    with transaction.atomic():  # a savepoint when called inside a transaction
        bookings = list(
            Booking.objects.filter(pk__in=booking_ids, status=Booking.Status.EXPIRED)
            .order_by("pk")
            .select_for_update()
            .only("pk", "organiser_id", "language", "buyer_email", "buyer_phone")
        )
        told = set(
            Notification.objects.filter(
                booking_id__in=[booking.pk for booking in bookings], template=TEMPLATE
            ).values_list("booking_id", flat=True)
        )
        rows, notified = [], 0
        for booking in bookings:
            if booking.pk in told:
                continue
            try:
                booking_rows = services.notification_rows(
                    booking=booking, template=TEMPLATE
                )
            except ValidationError:
                logger.exception(
                    "The hold-expired notice of booking %s cannot be stored", booking.pk
                )
                continue
            rows += booking_rows
            notified += bool(booking_rows)
        services.notifications_write(rows)
    return notified
