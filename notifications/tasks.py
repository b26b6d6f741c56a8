"""Celery tasks of this package (registered through bookings/tasks.py).

Sending goes through the outbox (`ticketing.tasks.outbox_dispatch`); the two send
tasks below keep their names for messages queued before it, and do the same work.
"""

from celery import shared_task

from ticketing import outbox

from . import services


@shared_task(
    name="bookings.notifications.tasks.notification_send",
    acks_late=True,
    ignore_result=True,
)
def notification_send_task(notification_id: int) -> str:
    """A send queued before the outbox; a failure is left to the row's outbox
    message, which retries it."""
    try:
        return services.notification_send(notification_id)
    except services.NotificationTemporaryError:
        return services.Status.FAILED


@shared_task(
    name="bookings.notifications.tasks.notifications_retry_due",
    acks_late=True,
    ignore_result=True,
)
def notifications_retry_due_task() -> int:
    return outbox.dispatch(kinds=[services.SEND_KIND])


@shared_task(
    name="bookings.notifications.tasks.hold_reminders_queue",
    acks_late=True,
    ignore_result=True,
)
def hold_reminders_queue_task() -> int:
    return services.hold_reminders_queue()
