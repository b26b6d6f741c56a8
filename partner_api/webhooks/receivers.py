"""Booking and check-in events → partner webhook deliveries.

Connected by `BookingsConfig.ready()`. Booking signals are sent after commit; a
check-in has no signal, so `post_save` of a ``check_in`` CheckIn row queues the
event once the check-in's transaction commits. A failure is logged and swallowed:
the sale or the check-in is committed already, and other receivers must still run.
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

_RELEASE_EVENTS = {
    Booking.Status.CANCELLED: BOOKING_CANCELLED,
    Booking.Status.REFUNDED: BOOKING_REFUNDED,
}


@receiver(signals.booking_confirmed, dispatch_uid="partner_webhooks.confirmed")
def booking_confirmed_webhooks(sender, booking_id, **kwargs):
    _booking_event(booking_id, BOOKING_CONFIRMED)


@receiver(signals.booking_released, dispatch_uid="partner_webhooks.released")
def booking_released_webhooks(sender, booking_id, status, **kwargs):
    if status in _RELEASE_EVENTS:
        _booking_event(booking_id, _RELEASE_EVENTS[status])


@receiver(post_save, sender=CheckIn, dispatch_uid="partner_webhooks.checked_in")
def check_in_webhooks(sender, instance, created, raw=False, **kwargs):
    if raw or not created or instance.action != CheckIn.Action.CHECK_IN:
        return
    check_in_id = instance.pk
    transaction.on_commit(lambda: _check_in_event(check_in_id))


def _booking_event(booking_id: int, event: str) -> None:
    try:
        services.booking_event_enqueue(booking_id=booking_id, event=event)
    except Exception:
        logger.exception(
            "Could not queue partner webhooks %s of booking %s", event, booking_id
        )


def _check_in_event(check_in_id: int) -> None:
    try:
        services.check_in_event_enqueue(check_in_id=check_in_id)
    except Exception:
        logger.exception("Could not queue partner webhooks of check-in %s", check_in_id)
