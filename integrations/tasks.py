"""Thin Celery wrappers over integration services."""

from __future__ import annotations

import logging

from celery import shared_task

from ticketing.lib.tasks import done_when_row_gone

from .exceptions import SyncError
from .models import SyncRun
from .services import webhooks
from .services.sync import connection_sync
from .services.sync_jobs import sync_run_execute

logger = logging.getLogger(__name__)

_TASK = {"bind": True, "acks_late": True, "ignore_result": True}


@shared_task(name="integrations.tasks.connection_sync_scheduled", **_TASK)
@done_when_row_gone
def connection_sync_scheduled_task(self, connection_id: int) -> int | None:
    """Beat's entry point (one entry per connection, see connection_schedule_save).
    A sync still running, or a disabled connection, is skipped: the next interval
    comes soon, and platform failures are recorded on the run, not raised."""
    try:
        run = connection_sync(
            connection_id=connection_id, trigger=SyncRun.Trigger.SCHEDULE
        )
    except SyncError as error:
        logger.info("Scheduled sync of connection %s skipped: %s", connection_id, error)
        return None
    return run.pk


@shared_task(name="integrations.tasks.sync_run_execute", **_TASK)
@done_when_row_gone
def sync_run_execute_task(
    self,
    run_id: int,
    listing_ids: list[int] | None = None,
    force: bool = False,
    actor_label: str = "",
) -> str:
    """A run queued by `connection_sync_enqueue` (partner API, admin "sync now")."""
    return sync_run_execute(
        run_id=run_id,
        listing_ids=listing_ids,
        force=force,
        actor=actor_label or None,
    ).status


@shared_task(name="integrations.tasks.connection_sync", **_TASK)
@done_when_row_gone
def connection_sync_task(
    self,
    connection_id: int,
    trigger: str,
    listing_ids: list[int] | None = None,
    force: bool = False,
    actor_label: str = "",
) -> int | None:
    """Admin "sync now" before runs were queued with their row: kept so that
    messages already in the broker still run."""
    try:
        run = connection_sync(
            connection_id=connection_id,
            trigger=trigger,
            actor=actor_label or None,
            listing_ids=listing_ids,
            force=force,
        )
    except SyncError as error:
        logger.info("Sync of connection %s not run: %s", connection_id, error)
        return None
    return run.pk


@shared_task(name="integrations.tasks.platform_webhook_process", **_TASK)
@done_when_row_gone
def platform_webhook_process_task(self, webhook_id: int) -> str:
    return webhooks.platform_webhook_process(webhook_id=webhook_id).status


@shared_task(name="integrations.tasks.platform_webhooks_retry_due", **_TASK)
def platform_webhooks_retry_due_task(self) -> int:
    return webhooks.platform_webhooks_retry_due()


@shared_task(name="integrations.tasks.platform_webhooks_rejected_purge", **_TASK)
def platform_webhooks_rejected_purge_task(self) -> int:
    return webhooks.platform_webhooks_rejected_purge()
