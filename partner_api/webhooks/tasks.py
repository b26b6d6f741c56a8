"""Celery tasks of partner webhooks (registered through bookings/tasks.py).

Deliveries go through the outbox (`ticketing.tasks.outbox_dispatch`); these keep
their names for tasks queued before it, and do the same work.
"""

from celery import shared_task

from ticketing import outbox

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
    return outbox.dispatch(kinds=[services.DELIVERY_KIND])
