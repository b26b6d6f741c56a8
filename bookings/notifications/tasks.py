"""Celery tasks of this package (registered through bookings/tasks.py)."""

from celery import shared_task

from . import services


@shared_task(
    name="bookings.notifications.tasks.notification_send",
    bind=True,
    acks_late=True,
    autoretry_for=(services.NotificationTemporaryError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def notification_send_task(self, notification_id: int) -> str:
    return services.notification_send(notification_id)


@shared_task(
    name="bookings.notifications.tasks.notifications_retry_due",
    acks_late=True,
    ignore_result=True,
)
def notifications_retry_due_task() -> int:
    return services.notifications_retry_due()


@shared_task(
    name="bookings.notifications.tasks.hold_reminders_queue",
    acks_late=True,
    ignore_result=True,
)
def hold_reminders_queue_task() -> int:
    return services.hold_reminders_queue()


@shared_task(
    name="bookings.notifications.tasks.confirmations_lost_due",
    acks_late=True,
    ignore_result=True,
)
def confirmations_lost_due_task() -> int:
    from .sweeps import confirmations_lost_due

    return confirmations_lost_due()
