"""Stored work that must not be lost: enqueue on commit, and sweep what was not done.

Inbound webhooks and outbound deliveries are rows first. Their task is enqueued once
the row is committed, and a broker that cannot be reached is logged, never raised:
the row is saved and the caller has its answer. A beat task then sweeps the rows still
due: it claims a batch (FOR UPDATE SKIP LOCKED, then an UPDATE that takes them out of
the due set for a lease), commits, and runs each row's handler outside the claim, so
two workers never handle one row at once and no lock is held during a provider call.
This is the shape issue 17's outbox takes over (see ARCHITECTURE.md, "One outbox").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args: Any) -> None:
    """`task.delay(*args)` once the current transaction commits (at once outside one).
    A failure to enqueue is logged, not raised: the row is stored and a sweep finds it.
    """

    def send() -> None:
        try:
            task.delay(*args)
        except Exception:  # broker down, whatever its client raises: the sweep retries
            logger.exception(
                "Could not enqueue %s%r; the sweep will pick it up", task.name, args
            )

    transaction.on_commit(send)


def claim(
    due: QuerySet, *, limit: int, order_by: Sequence[str] = ("pk",), **lease: Any
) -> list[int]:
    """Lock up to `limit` rows of `due` (skipping rows another worker holds), apply
    `lease` to them in the same transaction and return their ids once committed.
    `lease` must take the rows out of `due` (a status, a later due time)."""
    with transaction.atomic():
        ids = list(
            due.order_by(*order_by)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            due.model._default_manager.filter(pk__in=ids).update(**lease)
    return ids


def sweep(
    due: QuerySet,
    handle: Callable[[int], object],
    *,
    limit: int = 100,
    order_by: Sequence[str] = ("pk",),
    **lease: Any,
) -> int:
    """Claim due rows (see `claim`) and call `handle(pk)` for each; a row whose
    handler raises is logged and left to its lease. Returns how many were handled."""
    handled = 0
    for pk in claim(due, limit=limit, order_by=order_by, **lease):
        try:
            handle(pk)
        except Exception:  # one bad row must not stop the rest of the batch
            logger.exception("Sweeping %s %s failed", due.model._meta.label, pk)
            continue
        handled += 1
    if handled:
        logger.info("Swept %d %s rows", handled, due.model._meta.label)
    return handled
