"""Celery tasks of partner webhooks (registered through bookings/tasks.py).

Retries are rows, not countdowns: a failed delivery gets `next_attempt_at` and
`partner_webhooks_retry_due` (beat, every minute) enqueues it again.
"""

from celery import shared_task

from . import services


@shared_task(
    name="bookings.partner_webhooks.tasks.partner_webhook_deliver",
    acks_late=True,
    ignore_result=True,
)
def partner_webhook_deliver_task(delivery_id: int) -> str:
    return services.delivery_send(delivery_id)


@shared_task(
    name="bookings.partner_webhooks.tasks.partner_webhooks_retry_due",
    acks_late=True,
    ignore_result=True,
)
def partner_webhooks_retry_due_task() -> int:
    return services.deliveries_retry_due()
