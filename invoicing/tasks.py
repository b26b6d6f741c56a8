from celery import shared_task

from .services.sending import overdue_reminders_queue


@shared_task(acks_late=True)
def invoice_overdue_reminders_task() -> int:
    """Daily: queue (outbox rows) a reminder per overdue document, once a week."""
    return overdue_reminders_queue()
