from celery import shared_task

from ticketing.lib.tasks import done_when_row_gone

from .services.sending import invoice_send_queue, overdue_reminders_queue


@shared_task(acks_late=True)
def invoice_overdue_reminders_task() -> int:
    """Daily: queue (outbox rows) a reminder per overdue document, once a week."""
    return overdue_reminders_queue()


@shared_task(acks_late=True)
@done_when_row_gone
def invoice_send_task(invoice_id: int, reminder: bool = False) -> None:
    """Only for messages queued before the outbox took the sending over (still in the
    broker at a deploy): they become outbox rows like any new send."""
    invoice_send_queue(invoice_id=invoice_id, actor="system", reminder=reminder)
