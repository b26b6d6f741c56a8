"""Refunds whose task was lost: a cancelled booking's refund is enqueued after the
cancellation commits; with the broker down, or Redis restarted empty, that task is
gone. This sweep (beat, every minute) enqueues it again for cancelled bookings that
still have a succeeded payment and no refund. `refund_booking_task` skips payments
that already have one, so a task delivered twice refunds once.

TODO(outbox): once `ticketing/outbox.py` lands, the refund becomes an outbox row
written with the cancellation, and this sweep goes.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Exists, OuterRef
from django.utils import timezone

from bookings.models import Booking
from ticketing.sweep import enqueue_on_commit

from .models import Payment, Provider, Refund

logger = logging.getLogger(__name__)

# A refund task normally runs within seconds of the cancellation.
REFUND_LOST_AFTER = dt.timedelta(minutes=1)


def refunds_lost_due(*, now: dt.datetime | None = None, limit: int = 100) -> int:
    now = now or timezone.now()
    unrefunded = (
        Payment.objects.filter(booking=OuterRef("pk"), status=Payment.Status.SUCCEEDED)
        .exclude(provider=Provider.OFFLINE)
        .exclude(
            Exists(
                Refund.objects.filter(payment=OuterRef("pk")).exclude(
                    status=Refund.Status.FAILED
                )
            )
        )
    )
    booking_ids = list(
        Booking.objects.filter(
            status=Booking.Status.CANCELLED, cancelled_at__lt=now - REFUND_LOST_AFTER
        )
        .filter(Exists(unrefunded))
        .order_by("cancelled_at")
        .values_list("pk", flat=True)[:limit]
    )
    from .tasks import refund_booking_task

    for booking_id in booking_ids:
        enqueue_on_commit(refund_booking_task, booking_id, "booking cancelled")
    if booking_ids:
        logger.warning("Re-enqueued the lost refunds of %d bookings", len(booking_ids))
    return len(booking_ids)
