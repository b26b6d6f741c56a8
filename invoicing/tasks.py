from celery import shared_task

from .services.sending import invoice_send, overdue_reminders_queue


@shared_task(
    acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def invoice_send_task(invoice_id: int, reminder: bool = False) -> None:
    invoice_send(invoice_id, reminder)


@shared_task(acks_late=True)
def invoice_overdue_reminders_task() -> int:
    return overdue_reminders_queue()
