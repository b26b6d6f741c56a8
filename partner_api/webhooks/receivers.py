"""Booking and check-in events → partner webhook deliveries.

Connected by `PartnerApiConfig.ready()`. `booking_status_changed` comes inside the
selling transaction, and `post_save` of a ``check_in`` CheckIn row inside the
check-in's: the deliveries and their outbox rows commit with the change or not at
all. They are written in a savepoint, and a failure is logged, not raised: a bug in
a webhook must not undo a sale or a check-in.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from admission.models import CheckIn
from bookings import signals
from bookings.models import Booking

from . import services
from .models import BOOKING_CANCELLED, BOOKING_CONFIRMED, BOOKING_REFUNDED

logger = logging.getLogger(__name__)

_EVENTS = {
    Booking.Status.CONFIRMED: BOOKING_CONFIRMED,
    Booking.Status.CANCELLED: BOOKING_CANCELLED,
    Booking.Status.REFUNDED: BOOKING_REFUNDED,
}


@receiver(signals.booking_status_changed, dispatch_uid="partner_webhooks.status")
def booking_status_webhooks(sender, booking_id, status, **kwargs):
    if status in _EVENTS:
        _booking_event(booking_id, _EVENTS[status])


@receiver(post_save, sender=CheckIn, dispatch_uid="partner_webhooks.checked_in")
def check_in_webhooks(sender, instance, created, raw=False, **kwargs):
    if raw or not created or instance.action != CheckIn.Action.CHECK_IN:
        return
    _check_in_event(instance.pk)


def _booking_event(booking_id: int, event: str) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure leaves the sale alone
            services.booking_event_enqueue(booking_id=booking_id, event=event)
    except Exception:
        logger.exception(
            "Could not queue partner webhooks %s of booking %s", event, booking_id
        )


def _check_in_event(check_in_id: int) -> None:
    try:
        with transaction.atomic():
            services.check_in_event_enqueue(check_in_id=check_in_id)
    except Exception:
        logger.exception("Could not queue partner webhooks of check-in %s", check_in_id)
