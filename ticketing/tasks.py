"""Celery tasks of the core."""

from celery import shared_task

from . import health, outbox


@shared_task(name="ticketing.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat_task() -> float:
    return health.heartbeat_write()


@shared_task(name="ticketing.tasks.outbox_dispatch", ignore_result=True, acks_late=True)
def outbox_dispatch_task() -> int:
    """Kicked when a transaction that wrote outbox rows commits, and run by beat
    every 30 s. Safe to run many at once: rows are claimed with SKIP LOCKED."""
    return outbox.dispatch()


@shared_task(name="ticketing.tasks.outbox_purge", ignore_result=True)
def outbox_purge_task() -> int:
    return outbox.purge_done()


@shared_task(name="ticketing.tasks.alerts_check", acks_late=True, ignore_result=True)
def alerts_check_task() -> int:
    from . import alerts_checks

    return alerts_checks.alerts_check()


@shared_task(name="ticketing.tasks.sessions_clear", ignore_result=True)
def sessions_clear_task() -> None:
    """Beat, daily: delete expired Django sessions. Every anonymous checkout and
    booking page visit can leave one, and Django deletes none by itself."""
    from django.core.management import call_command

    call_command("clearsessions")
