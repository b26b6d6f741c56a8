"""A sync asked for by a person (partner API, admin "sync now") runs as a job.

`connection_sync_enqueue` answers at once with a SyncRun: the one already running for
the connection, or a new RUNNING run whose task (`sync_run_execute_task`) is sent once
the row is committed. The new run takes the connection's sync lock when it is queued
(owner `run:<id>`) and its task carries it on, so that nothing else starts a sync of
the connection in between, and a second request meanwhile gets the same run back.
Progress (counts, errors) is saved on the run as each listing is done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from ..exceptions import ConnectionNotReady, SyncAlreadyRunning
from ..models import Connection, SyncRun
from .locks import (
    connection_sync_lock_owner,
    connection_sync_lock_release,
    connection_sync_lock_take,
    sync_run_owner,
)
from .sync import (
    sync_run_create,
    sync_run_give_up,
    sync_run_perform,
    sync_runs_abandoned_fail,
)

logger = logging.getLogger(__name__)


def connection_sync_enqueue(
    *,
    connection_id: int,
    trigger: str,
    actor=None,
    actor_label: str = "",
    listing_ids: Iterable[int] | None = None,
    force: bool = False,
) -> tuple[SyncRun, bool]:
    """The connection's running SyncRun, or a new one queued: `(run, created)`.

    Raises ConnectionNotReady when the connection is disabled or has no
    credentials, and SyncAlreadyRunning when another sync holds the connection's
    lock without a run to show yet (it is about to write one). A run that is reused
    keeps its own listings and `force`: `listing_ids` and `force` only shape a new
    run. `actor_label` names the actor on the rows the task writes.
    """
    connection = Connection.objects.get(pk=connection_id)
    if not connection.is_enabled or not connection.has_credentials:
        raise ConnectionNotReady()
    listing_ids = None if listing_ids is None else list(listing_ids)
    owner = None
    try:
        with transaction.atomic():
            # One request at a time per connection decides: reuse or queue.
            Connection.objects.select_for_update().get(pk=connection_id)
            running = connection.runs.filter(status=SyncRun.Status.RUNNING).first()
            if running is not None and connection_sync_lock_owner(connection_id):
                return running, False
            if running is not None:
                sync_runs_abandoned_fail(connection)
            run = sync_run_create(connection=connection, trigger=trigger, actor=actor)
            if not connection_sync_lock_take(connection_id, sync_run_owner(run.pk)):
                raise SyncAlreadyRunning()
            owner = sync_run_owner(run.pk)
            transaction.on_commit(lambda: _send(run, listing_ids, force, actor_label))
    except BaseException:
        if owner is not None:  # the run was not committed: nothing will free it
            connection_sync_lock_release(connection_id, owner)
        raise
    return run, True


def _send(run: SyncRun, listing_ids, force: bool, actor_label: str) -> None:
    from ..tasks import sync_run_execute_task

    try:
        sync_run_execute_task.delay(run.pk, listing_ids, force, actor_label)
    except Exception:
        # The broker is down (or, in eager mode, the sync crashed). Say so on the run
        # now rather than after the lock's timeout: the next request starts anew.
        logger.exception("Could not queue or run sync run %s", run.pk)
        sync_run_give_up(
            run, code="not_queued", message="The sync could not be queued."
        )
        connection_sync_lock_release(run.connection_id, sync_run_owner(run.pk))


def sync_run_execute(
    *,
    run_id: int,
    listing_ids: Iterable[int] | None = None,
    force: bool = False,
    actor=None,
) -> SyncRun:
    """Perform a queued run (the task's body). Idempotent: a run no longer RUNNING
    is returned as it is; a delivery of the task again (worker lost) performs the
    run again while it holds the lock. A run whose lock lapsed while it waited, and
    that another sync has taken since, ends FAILED with code `sync_running`."""
    run = SyncRun.objects.select_related("connection").get(pk=run_id)
    if run.status != SyncRun.Status.RUNNING:
        return run
    connection = run.connection
    owner = sync_run_owner(run.pk)
    if connection_sync_lock_owner(connection.pk) != owner and not (
        connection_sync_lock_take(connection.pk, owner)
    ):
        sync_run_give_up(
            run, code=SyncAlreadyRunning.code, message=SyncAlreadyRunning().message
        )
        return run
    try:
        if not connection.is_enabled or not connection.has_credentials:
            error = ConnectionNotReady()
            sync_run_give_up(run, code=error.code, message=error.message, actor=actor)
            return run
        return sync_run_perform(
            run, connection, actor=actor, listing_ids=listing_ids, force=force
        )
    finally:
        connection_sync_lock_release(connection.pk, owner)
