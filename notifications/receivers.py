"""What notifications do when selling or the email provider tells them something.

Connected by `NotificationsConfig.ready()`. Booking signals are sent after commit, so
each receiver opens its own transaction (in `booking_notice_queue`). A failure here
is logged and swallowed: the booking is committed already, and other receivers of the
same signal (tickets, payments) must still run. `buyer_message_requested` is the
exception: it comes inside the sender's transaction, and a failure fails it.
"""

from __future__ import annotations

import logging

from anymail.signals import EventType, tracking
from django.dispatch import receiver

from bookings import signals
from bookings.models import Booking

from . import services
from .models import Notification

logger = logging.getLogger(__name__)


@receiver(signals.booking_confirmed, dispatch_uid="notifications.confirmation")
def queue_confirmation(sender, booking_id, **kwargs):
    _queue(booking_id, Notification.Template.CONFIRMATION)


@receiver(signals.booking_released, dispatch_uid="notifications.release")
def queue_release_notice(sender, booking_id, status, **kwargs):
    templates = {
        Booking.Status.CANCELLED: Notification.Template.CANCELLATION,
        Booking.Status.REFUNDED: Notification.Template.REFUND,
    }
    if status in templates:
        _queue(booking_id, templates[status])


@receiver(signals.buyer_message_requested, dispatch_uid="notifications.requested")
def queue_requested_message(
    sender, booking, template, channels=None, once=False, **kwargs
):
    if once:
        services.booking_notice_queue(booking_id=booking.pk, template=template)
    else:
        services.notification_queue(
            booking=booking,
            template=template,
            channels=channels or (Notification.Channel.EMAIL, Notification.Channel.SMS),
        )


def _queue(booking_id: int, template: str) -> None:
    try:
        services.booking_notice_queue(booking_id=booking_id, template=template)
    except Exception:
        logger.exception(
            "Could not queue the %s notice of booking %s", template, booking_id
        )


# anymail's normalised event → our status; opens, clicks, deferrals change nothing.
_EMAIL_STATUSES = {
    EventType.DELIVERED: Notification.Status.DELIVERED,
    EventType.BOUNCED: Notification.Status.BOUNCED,
    EventType.REJECTED: Notification.Status.BOUNCED,
    EventType.FAILED: Notification.Status.FAILED,
}


@receiver(tracking, dispatch_uid="notifications.email_tracking")
def email_delivery_report(sender, event, esp_name, **kwargs):
    status = _EMAIL_STATUSES.get(event.event_type)
    if status is None or not event.message_id:
        return
    services.notification_status_update(
        channel=Notification.Channel.EMAIL,
        provider_message_id=event.message_id,
        status=status,
        notification_id=(event.metadata or {}).get("notification"),
        error=_describe(esp_name, event),
    )


def _describe(esp_name: str, event) -> str:
    reason = event.reject_reason
    if reason and reason != event.event_type:
        return f"{esp_name}: {event.event_type} ({reason})"
    return f"{esp_name}: {event.event_type}"
