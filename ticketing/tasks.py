"""Celery tasks of the core."""

from celery import shared_task

from . import health


@shared_task(name="ticketing.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat_task() -> float:
    return health.heartbeat_write()


@shared_task(name="ticketing.tasks.alert_notify", acks_late=True, ignore_result=True)
def alert_notify_task(alert_id: int) -> bool:
    from . import alerts

    return alerts.alert_notify(alert_id)


@shared_task(
    name="ticketing.tasks.alerts_notify_due", acks_late=True, ignore_result=True
)
def alerts_notify_due_task() -> int:
    from . import alerts

    return alerts.alerts_notify_due()


@shared_task(name="ticketing.tasks.alerts_check", acks_late=True, ignore_result=True)
def alerts_check_task() -> int:
    from . import alerts_checks

    return alerts_checks.alerts_check()
