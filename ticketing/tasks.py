"""Celery tasks of the core."""

from celery import shared_task

from . import health


@shared_task(name="ticketing.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat_task() -> float:
    return health.heartbeat_write()
