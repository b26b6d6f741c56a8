"""The hold-expired notice of every booking an expiry batch turned EXPIRED.

`bookings_expiring` comes once per expiry batch (up to 20,000 bookings) INSIDE the
batch's transaction, so the notices and their outbox rows commit with the expiry or
not at all: no crash between the two can lose them. They are written a chunk of
bookings at a time in four statements (lock the chunk's bookings; find those told
already; insert the notices of the others, server-side; insert their outbox rows),
not a statement per booking (bench/README.md has what that cost). A failure raises:
the expiry batch is rolled back and the next run expires those holds again.

Exactly once per booking, as `booking_notice_queue` does it for one: the bookings are
locked (in the expiry, the batch holds those locks already; a direct call takes them
in id order, so two runs at once queue behind each other instead of deadlocking)
before the query that looks for notices written already, so a replayed signal or a
second run finds the first one's rows and writes nothing. A booking paid meanwhile
(no longer EXPIRED) gets nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bookings.models import Booking

from .models import Notification
from .services.queueing import sends_enqueue

# Bookings per statement: bounds the id arrays sent and the rows one RETURNING
# brings back, whatever the expiry's batch size.
CHUNK = 1000
TEMPLATE = Notification.Template.HOLD_EXPIRED


def hold_expired_notices_queue(booking_ids: Iterable[int]) -> int:
    """Queue the notice of every EXPIRED booking of `booking_ids` not told yet;
    returns how many bookings got one. Raises on failure: the caller's transaction
    (the expiry batch) is meant to roll back with it, not commit untold holds."""
    ids = sorted(set(booking_ids))
    queued = 0
    with transaction.atomic():  # a savepoint inside the expiry batch
        for start in range(0, len(ids), CHUNK):
            queued += _queue_chunk(ids[start : start + CHUNK])
    return queued


# One statement writes a chunk's notices server-side (20,000 rows never become
# Python objects): one row per channel the buyer gave, in their language as
# `queueing._language` picks it.
_NOTICES_SQL = """
INSERT INTO {notification} (booking_id, organiser_id, channel, template, recipient,
                            language, status, attempts, provider_message_id,
                            last_error, created_at, updated_at)
SELECT booking.id, booking.organiser_id, contact.channel, %(template)s::text,
       contact.recipient,
       CASE WHEN booking.language = ANY(%(languages)s::text[]) THEN booking.language
            WHEN split_part(booking.language, '-', 1) = ANY(%(languages)s::text[])
                THEN split_part(booking.language, '-', 1)
            ELSE %(default_language)s::text END,
       %(queued)s::text, 0, '', '', %(now)s::timestamptz, %(now)s::timestamptz
FROM {booking} AS booking
CROSS JOIN LATERAL (VALUES (%(email)s::text, booking.buyer_email),
                           (%(sms)s::text, booking.buyer_phone))
     AS contact (channel, recipient)
WHERE booking.id = ANY(%(ids)s::bigint[]) AND contact.recipient <> ''
ORDER BY booking.id, contact.channel
RETURNING id, booking_id, organiser_id
"""


def _queue_chunk(booking_ids: list[int]) -> int:
    locked = list(
        Booking.objects.filter(pk__in=booking_ids, status=Booking.Status.EXPIRED)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )
    # After the lock, in a statement of its own: under READ COMMITTED it sees the
    # notices of a run that held the lock before us. (Not a NOT EXISTS in the
    # insert: with the table's fresh rows unanalysed, the planner scanned it
    # whole for every booking.)
    told = set(
        Notification.objects.filter(
            booking_id__in=locked, template=TEMPLATE
        ).values_list("booking_id", flat=True)
    )
    untold = [booking_id for booking_id in locked if booking_id not in told]
    if not untold:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _NOTICES_SQL.format(
                notification=Notification._meta.db_table,
                booking=Booking._meta.db_table,
            ),
            {
                "template": TEMPLATE,
                "languages": [code for code, _name in settings.LANGUAGES],
                "default_language": settings.LANGUAGE_CODE,
                "queued": Notification.Status.QUEUED,
                "now": timezone.now(),
                "email": Notification.Channel.EMAIL,
                "sms": Notification.Channel.SMS,
                "ids": untold,
            },
        )
        written = cursor.fetchall()
    sends_enqueue((pk, organiser_id) for pk, _booking_id, organiser_id in written)
    return len({booking_id for _pk, booking_id, _organiser_id in written})
