"""Thin Celery wrappers over booking services."""

from celery import shared_task

from . import services


@shared_task(
    name="bookings.tasks.booking_expire_stale", acks_late=True, ignore_result=True
)
def booking_expire_stale() -> int:
    return services.booking_expire_stale()


@shared_task(
    name="bookings.tasks.booking_summary_send",
    bind=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def booking_summary_send_task(self, booking_id: int) -> int:
    return services.booking_summary_send(booking_id=booking_id)


@shared_task(
    name="bookings.tasks.api_idempotency_purge", acks_late=True, ignore_result=True
)
def api_idempotency_purge() -> int:
    from .api.idempotency import idempotency_records_purge

    return idempotency_records_purge()


# Tasks of the tickets and notifications packages, registered with this app's tasks.
from .notifications import tasks as _notification_tasks  # noqa: E402, F401
from .partner_webhooks import tasks as _partner_webhook_tasks  # noqa: E402, F401
from .tickets import tasks as _ticket_tasks  # noqa: E402, F401
