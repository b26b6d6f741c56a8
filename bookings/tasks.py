"""Thin Celery wrappers over booking services."""

from celery import shared_task

from . import services


@shared_task(
    name="bookings.tasks.booking_expire_stale", acks_late=True, ignore_result=True
)
def booking_expire_stale() -> int:
    return services.booking_expire_stale()
