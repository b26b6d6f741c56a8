"""One sync at a time per connection, across every worker and web process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache


def _key(connection_id: int) -> str:
    return f"integrations:sync-lock:{connection_id}"


@contextmanager
def connection_sync_lock(connection_id: int) -> Iterator[bool]:
    """Yields whether the lock was taken. An atomic add (Redis SET NX EX) with a
    timeout, so that a worker that dies mid-sync blocks the next one for at most
    INTEGRATIONS_SYNC_LOCK_SECONDS. Released only by its owner: a sync that outlived
    its timeout must not free the lock of the sync that took over."""
    token = uuid.uuid4().hex
    taken = cache.add(
        _key(connection_id), token, timeout=settings.INTEGRATIONS_SYNC_LOCK_SECONDS
    )
    try:
        yield taken
    finally:
        if taken and cache.get(_key(connection_id)) == token:
            cache.delete(_key(connection_id))
