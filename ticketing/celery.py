import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

app = Celery("ticketing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _count_task_outcomes() -> None:
    """Task outcomes for /metrics (ticketing_celery_tasks_total)."""
    from celery import signals

    from ticketing import metrics

    signals.task_success.connect(metrics.task_succeeded, weak=False)
    signals.task_failure.connect(metrics.task_failed, weak=False)
    signals.task_retry.connect(metrics.task_retried, weak=False)
    signals.task_revoked.connect(metrics.task_revoked, weak=False)
    signals.task_rejected.connect(metrics.task_rejected, weak=False)
    signals.worker_init.connect(metrics.worker_metrics_serve, weak=False)
    signals.worker_process_shutdown.connect(metrics.worker_process_exited, weak=False)


_count_task_outcomes()
