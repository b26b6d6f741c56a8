"""Confirmation emails whose row was never written.

The confirmation notice is queued by a receiver of `booking_confirmed`, which runs
after the confirming transaction commits; a worker killed in between (the chaos run,
bench/chaos.py, found it) confirms the booking and queues nothing. This sweep (beat,
every minute) queues it for confirmed bookings that have none a minute later;
`booking_notice_queue` queues a notice once, so the receiver and the sweep never
both send it.

TODO(outbox): once `ticketing/outbox.py` lands, the notice is an outbox row written
in the confirming transaction, and this sweep goes.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from ..models import Booking, Notification
from .services import booking_notice_queue

logger = logging.getLogger(__name__)

LOST_AFTER = dt.timedelta(minutes=1)


def confirmations_lost_due(*, now: dt.datetime | None = None, limit: int = 100) -> int:
    now = now or timezone.now()
    booking_ids = list(
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED, confirmed_at__lt=now - LOST_AFTER
        )
        .exclude(notifications__template=Notification.Template.CONFIRMATION)
        .order_by("confirmed_at")
        .values_list("pk", flat=True)[:limit]
    )
    queued = 0
    for booking_id in booking_ids:
        queued += bool(
            booking_notice_queue(
                booking_id=booking_id, template=Notification.Template.CONFIRMATION
            )
        )
    if queued:
        logger.warning("Queued %d lost confirmation emails", queued)
    return queued
