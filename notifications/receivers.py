"""What notifications do when selling or the email provider tells them something.

Connected by `NotificationsConfig.ready()`. The booking signals heard here come inside
the transaction of the change, so the `Notification` rows and their outbox rows commit
with it or not at all: a crash after the commit still finds them, and a rolled-back
change sends nothing. A status change's messages are written in a savepoint, and a
failure there is logged, not raised: a bug in a message must not undo a sale.
`buyer_message_requested` (asked for by the change itself) and the hold-expired notices
(the expiry is retried, so rolling it back loses nothing) fail with their sender.
"""

from __future__ import annotations

import logging

from anymail.signals import EventType, tracking
from django.db import transaction
from django.dispatch import receiver

from bookings import signals
from bookings.models import Booking

from . import hold_expired
from .models import Notification
from .services.delivery_reports import notification_status_update
from .services.queueing import booking_notice_queue, notification_queue

logger = logging.getLogger(__name__)


_NOTICES = {
    Booking.Status.CONFIRMED: Notification.Template.CONFIRMATION,
    Booking.Status.CANCELLED: Notification.Template.CANCELLATION,
    Booking.Status.REFUNDED: Notification.Template.REFUND,
}


@receiver(signals.booking_status_changed, dispatch_uid="notifications.status")
def queue_status_notice(sender, booking_id, status, **kwargs):
    if status in _NOTICES:
        _queue(booking_id, _NOTICES[status])


@receiver(signals.bookings_expiring, dispatch_uid="notifications.hold_expired")
def queue_hold_expired_notices(sender, booking_ids, **kwargs):
    """Tell each buyer whose hold ran out unpaid, once: inside the expiry batch's
    transaction, under its locks, a whole batch in a few statements."""
    hold_expired.hold_expired_notices_queue(booking_ids)


@receiver(signals.buyer_message_requested, dispatch_uid="notifications.requested")
def queue_requested_message(
    sender, booking, template, channels=None, once=False, **kwargs
):
    if once:
        booking_notice_queue(booking_id=booking.pk, template=template)
    else:
        notification_queue(
            booking=booking,
            template=template,
            channels=channels or (Notification.Channel.EMAIL, Notification.Channel.SMS),
        )


def _queue(booking_id: int, template: str) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure leaves the sale alone
            booking_notice_queue(booking_id=booking_id, template=template)
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
    notification_status_update(
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
