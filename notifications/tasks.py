"""Celery tasks of this package (registered through bookings/tasks.py).

Sending goes through the outbox (`ticketing.tasks.outbox_dispatch`); the two send
tasks below keep their names for messages queued before it, and do the same work.
"""

from celery import shared_task

from ticketing import outbox

from .models import Notification
from .services.channels import NotificationTemporaryError
from .services.queueing import SEND_KIND, hold_reminders_queue
from .services.sending import notification_send


@shared_task(
    name="bookings.notifications.tasks.notification_send",
    acks_late=True,
    ignore_result=True,
)
def notification_send_task(notification_id: int) -> str:
    """A send queued before the outbox; a failure is left to the row's outbox
    message, which retries it."""
    try:
        return notification_send(notification_id)
    except NotificationTemporaryError:
        return Notification.Status.FAILED


@shared_task(
    name="bookings.notifications.tasks.notifications_retry_due",
    acks_late=True,
    ignore_result=True,
)
def notifications_retry_due_task() -> int:
    return outbox.dispatch(kinds=[SEND_KIND])


@shared_task(
    name="bookings.notifications.tasks.hold_reminders_queue",
    acks_late=True,
    ignore_result=True,
)
def hold_reminders_queue_task() -> int:
    return hold_reminders_queue()
