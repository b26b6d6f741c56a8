"""Celery tasks of the partner API. Names are those they had in `bookings`, so queued
tasks and beat entries written before the move still find them."""

from celery import shared_task

from .webhooks import tasks as _webhook_tasks  # noqa: F401  (registers them)


@shared_task(
    name="bookings.tasks.api_idempotency_purge", acks_late=True, ignore_result=True
)
def api_idempotency_purge() -> int:
    from .idempotency import idempotency_records_purge

    return idempotency_records_purge()
