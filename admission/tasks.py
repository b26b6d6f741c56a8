"""Celery tasks of this package (registered through bookings/tasks.py)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task

from ticketing.lib.retry import TASK_RETRIES, celery_retry_options
from ticketing.lib.tasks import done_when_row_gone

from . import services

# Storage is local disk or S3: a full disk, a network error or S3 throttling heals.
_RETRYING = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (OSError, BotoCoreError, ClientError),
    **celery_retry_options(TASK_RETRIES),
    "ignore_result": True,
}


@shared_task(name="bookings.tickets.booking_document_render", **_RETRYING)
@done_when_row_gone
def booking_document_render_task(self, booking_id: int) -> str:
    """Idempotent: an existing PDF is kept; a booking released meanwhile is skipped."""
    try:
        return services.booking_document_get_or_render(booking_id).pdf.name
    except services.TicketsUnavailable:
        return ""


@shared_task(name="bookings.tickets.booking_document_delete", **_RETRYING)
@done_when_row_gone
def booking_document_delete_task(self, booking_id: int) -> bool:
    return services.booking_document_delete(booking_id)
