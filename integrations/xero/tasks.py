"""Thin Celery wrappers over the Xero services (pushes go through the outbox)."""

from __future__ import annotations

import logging

from celery import shared_task

from ticketing.lib.http import ExternalError
from ticketing.lib.tasks import done_when_row_gone

from .models import XeroConnection
from .services import pull

logger = logging.getLogger(__name__)

_TASK = {"bind": True, "acks_late": True, "ignore_result": True}


@shared_task(name="xero.tasks.webhook_event_process", **_TASK)
@done_when_row_gone
def webhook_event_process_task(self, event_id: int) -> None:
    """One stored webhook event; a failure stays on the row for the sweep."""
    try:
        pull.webhook_event_process(event_id)
    except ExternalError as error:
        logger.warning("Xero webhook event %s not processed: %s", event_id, error)


@shared_task(name="xero.tasks.reconcile", **_TASK)
@done_when_row_gone
def reconcile_task(self, connection_id: int) -> int:
    try:
        return pull.reconcile(connection_id=connection_id)
    except ExternalError as error:
        logger.warning(
            "Xero reconcile of connection %s failed: %s", connection_id, error
        )
        return 0


@shared_task(name="xero.tasks.reconcile_all", **_TASK)
def reconcile_all_task(self) -> int:
    """Beat: a reconcile per connected organisation, then the webhook sweep."""
    ids = list(
        XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    for connection_id in ids:
        reconcile_task.delay(connection_id)
    for event_id in pull.webhook_events_due():
        webhook_event_process_task.delay(event_id)
    return len(ids)
