"""One sync at a time per connection, across every worker and web process.

The lock is a cache key (Redis SET NX EX) holding its owner's token. An ad-hoc sync
(beat, webhooks) holds it for as long as it runs. A queued run (API, admin) takes it
when it is queued, with the owner `sync_run_owner(run_id)`, and its task carries it
on: between the request and the worker nothing else can start a sync, and a request
meanwhile finds the run to reuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache


def _key(connection_id: int) -> str:
    return f"integrations:sync-lock:{connection_id}"


def sync_run_owner(run_id: int) -> str:
    return f"run:{run_id}"


def connection_sync_lock_take(connection_id: int, owner: str) -> bool:
    """Atomic, with a timeout: a worker that dies mid-sync (or a queued run whose
    task never comes) blocks the next sync for at most INTEGRATIONS_SYNC_LOCK_SECONDS.
    """
    return cache.add(
        _key(connection_id), owner, timeout=settings.INTEGRATIONS_SYNC_LOCK_SECONDS
    )


def connection_sync_lock_owner(connection_id: int) -> str | None:
    return cache.get(_key(connection_id))


def connection_sync_lock_release(connection_id: int, owner: str) -> None:
    """Only by its owner: a sync that outlived its timeout must not free the lock of
    the sync that took over."""
    if cache.get(_key(connection_id)) == owner:
        cache.delete(_key(connection_id))


@contextmanager
def connection_sync_lock(connection_id: int) -> Iterator[bool]:
    """Yields whether the lock was taken; released on exit if it was."""
    token = uuid.uuid4().hex
    taken = connection_sync_lock_take(connection_id, token)
    try:
        yield taken
    finally:
        if taken:
            connection_sync_lock_release(connection_id, token)
