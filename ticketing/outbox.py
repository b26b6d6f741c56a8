"""The transactional outbox: work that must happen because a transaction committed.

    from ticketing import outbox

    with transaction.atomic():
        booking.save()
        outbox.enqueue("notifications.email", key=f"booking:{booking.pk}",
                       payload={"booking_id": booking.pk})

`enqueue` writes an `OutboxMessage` row in the caller's transaction and refuses to
run outside one: the row commits with the change that causes it, or neither does.
On commit a dispatch task is kicked for latency; beat runs `dispatch` every 30 s as
the net under a lost kick, a broker that was down or a worker that died.

Apps higher up register one handler per kind in their `AppConfig.ready()`
(`outbox.register(kind, handler, policy=...)`). `dispatch` claims due rows with
FOR UPDATE SKIP LOCKED plus a lease (`ticketing.sweep.claim`), commits, and runs each
handler outside any transaction of its own; then marks the row done, or reschedules
it with the kind's `RetryPolicy` (`ticketing.lib.retry`), or marks it dead once its
attempts are spent or the error says retrying cannot help (`retryable = False`).

Guarantees: at least once to a handler (a worker killed after the handler's effect
and before the mark runs it again once the lease lapses); exactly once in effect
when the handler passes `message.idempotency_key` (the row's id) to a provider that
deduplicates on it (Stripe, Xero). Handlers must therefore be idempotent, or accept
a rare duplicate (see docs/operations.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from ticketing.lib import retry
from ticketing.models import OutboxMessage
from ticketing.sweep import claim

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status
Handler = Callable[[OutboxMessage], object]

DEFAULT_LEASE = dt.timedelta(minutes=5)
BATCH = 100
# Done rows are kept this long for the admin, then purged.
KEEP_DONE = dt.timedelta(days=7)
_ERROR_MAX = 2000


class OutboxError(RuntimeError):
    """The outbox was used wrongly (outside a transaction, an unknown kind)."""


class GiveUp(Exception):  # noqa: N818 - a verdict, not an error of the outbox
    """Raised by a handler: this row can never succeed; mark it dead now."""

    retryable = False


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    handler: Handler
    policy: retry.RetryPolicy
    lease: dt.timedelta
    min_interval: dt.timedelta = dt.timedelta()


_kinds: dict[str, Kind] = {}


def register(
    kind: str,
    handler: Handler,
    *,
    policy: retry.RetryPolicy = retry.DEFAULT,
    lease: dt.timedelta = DEFAULT_LEASE,
    min_interval: dt.timedelta = dt.timedelta(),
) -> None:
    """Make `handler(message)` the one handler of `kind`. `lease` must outlast the
    slowest handler run (timeouts included), or a second dispatcher takes the row
    while the first still works on it. `min_interval`: a row changed while its
    handler ran is run again no sooner than this after (keyed pushes: at most one
    per object per interval, however fast the changes come)."""
    _kinds[kind] = Kind(
        handler=handler, policy=policy, lease=lease, min_interval=min_interval
    )


def registered(kind: str) -> Kind | None:
    return _kinds.get(kind)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One row for `enqueue_many`."""

    key: str = ""
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    organiser_id: int | None = None


def enqueue(
    kind: str,
    *,
    payload: dict[str, Any] | None = None,
    key: str = "",
    organiser_id: int | None = None,
    delay: dt.timedelta | None = None,
) -> int:
    """Write a row for `kind` in the current transaction; return its id.

    With a `key`, a pending row of the same kind and key absorbs this one: its
    payload is replaced, it becomes due no later than this one would be, and its
    version is bumped, so a dispatcher handling it right now runs it once more
    afterwards instead of marking the newer change done. `delay` postpones a new row
    (coalescing a burst of changes into one push). Ids, not objects, in `payload`.
    Raises OutboxError outside a transaction."""
    _require_transaction(kind)
    now = timezone.now()
    due = now + (delay or dt.timedelta())
    if not key:
        message = OutboxMessage.objects.create(
            kind=kind,
            payload=payload or {},
            organiser_id=organiser_id,
            next_attempt_at=due,
        )
        pk = message.pk
    else:
        [pk] = _upsert(kind, [Entry(key, payload or {}, organiser_id)], due, now)
    transaction.on_commit(_kick)
    return pk


def enqueue_many(
    kind: str, entries: Sequence[Entry], *, delay: dt.timedelta | None = None
) -> list[int]:
    """`enqueue` for many rows in one statement (ids returned in no set order).
    Keys coalesce as in `enqueue`; of two entries with one key, the later wins. On
    commit, one dispatch is kicked per BATCH rows, so a large batch is handed out
    as fast as one row at a time would be."""
    _require_transaction(kind)
    keyed = {entry.key: entry for entry in entries if entry.key}
    rows = [*keyed.values(), *(entry for entry in entries if not entry.key)]
    if not rows:
        return []
    now = timezone.now()
    ids = _upsert(kind, rows, now + (delay or dt.timedelta()), now)
    for _ in range(math.ceil(len(rows) / BATCH)):
        transaction.on_commit(_kick)
    return ids


def _require_transaction(kind: str) -> None:
    if not connection.in_atomic_block:
        raise OutboxError(
            f"outbox.enqueue({kind!r}) outside a transaction: the row must commit "
            "with the change that causes it"
        )


def _upsert(kind: str, entries: Sequence[Entry], due, now) -> list[int]:
    table = OutboxMessage._meta.db_table
    # One statement, its rows as three arrays whatever their number: transactions
    # coalescing onto one key serialise on the unique index, and the later updates
    # the row the earlier inserted. Empty keys never conflict (the index skips them).
    sql = f"""
        INSERT INTO {table} (kind, key, payload, organiser_id, status, attempts,
                             version, next_attempt_at, last_error, created_at,
                             updated_at)
        SELECT %s, entry.key, entry.payload::jsonb, entry.organiser_id, %s, 0, 1,
               %s, '', %s, %s
        FROM unnest(%s::text[], %s::text[], %s::bigint[])
             AS entry (key, payload, organiser_id)
        ON CONFLICT (kind, key) WHERE status = 'pending' AND NOT key = ''
        DO UPDATE SET payload = EXCLUDED.payload,
                      version = {table}.version + 1,
                      next_attempt_at = LEAST({table}.next_attempt_at,
                                              EXCLUDED.next_attempt_at),
                      updated_at = EXCLUDED.updated_at
        RETURNING id
    """  # noqa: S608 - the table name is ours, every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                kind,
                Status.PENDING,
                due,
                now,
                now,
                [entry.key for entry in entries],
                [json.dumps(entry.payload) for entry in entries],
                [entry.organiser_id for entry in entries],
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _kick() -> None:
    """On commit: dispatch soon. A broker that cannot be reached is logged, never
    raised (the commit is done, the caller has its answer); beat dispatches the rows
    within 30 s."""
    from ticketing.tasks import outbox_dispatch_task

    try:
        outbox_dispatch_task.delay()
    except Exception:  # whatever the broker's client raises
        logger.exception("Could not kick the outbox dispatch; beat will run it")


# -- dispatch ----------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) & (
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    )


def dispatch(*, limit: int = BATCH, kinds: list[str] | None = None) -> int:
    """Claim due rows (skipping rows another dispatcher holds) and handle each.
    Returns how many were handled successfully."""
    now = timezone.now()
    due = OutboxMessage.objects.filter(_due(now))
    if kinds is not None:
        due = due.filter(kind__in=kinds)
    ids = claim(
        due,
        limit=limit,
        order_by=("next_attempt_at", "pk"),
        leased_until=now + DEFAULT_LEASE,
        attempts=F("attempts") + 1,
    )
    done = 0
    for pk in ids:
        done += _handle(pk, claimed_lease=now + DEFAULT_LEASE)
    if ids:
        logger.info("Outbox: %d of %d claimed rows done", done, len(ids))
    return done


def _handle(pk: int, *, claimed_lease: dt.datetime) -> bool:
    message = OutboxMessage.objects.get(pk=pk)
    kind = _kinds.get(message.kind)
    lease = kind.lease if kind else DEFAULT_LEASE
    # Renew the lease just before the work (to the kind's own length): a row whose
    # lease lapsed while the batch was slow belongs to the dispatcher that took it.
    lease_until = timezone.now() + lease
    if not OutboxMessage.objects.filter(
        pk=pk, status=Status.PENDING, leased_until=claimed_lease
    ).update(leased_until=lease_until):
        # Untried here: the claim counted an attempt for the whole batch, and the
        # dispatcher that took the row since counted its own. Give ours back, or a
        # slow batch would spend a row's attempts without trying it.
        OutboxMessage.objects.filter(pk=pk, attempts__gt=0).update(
            attempts=F("attempts") - 1
        )
        return False
    message.leased_until = lease_until
    mine = OutboxMessage.objects.filter(pk=pk, leased_until=lease_until)
    if kind is None:
        _failed(message, mine, retry.DEFAULT, OutboxError("no handler registered"))
        return False
    try:
        kind.handler(message)
    except Exception as error:  # whatever a handler raises, the row survives it
        _failed(message, mine, kind.policy, error)
        return False
    finished = timezone.now()
    if not mine.filter(version=message.version).update(
        status=Status.DONE, done_at=finished, leased_until=None, last_error=""
    ):
        # A change landed while the handler ran (or the lease was lost): the row
        # stays pending, due now (or after the kind's min_interval), and the next
        # dispatch handles the newer state.
        mine.update(
            leased_until=None,
            last_error="",
            attempts=0,
            next_attempt_at=Greatest(
                F("next_attempt_at"), Value(finished + kind.min_interval)
            ),
        )
    return True


def _failed(message, mine, policy: retry.RetryPolicy, error: BaseException) -> None:
    retryable = getattr(error, "retryable", True)
    now = timezone.now()
    when = (
        policy.next_attempt_at(
            message.attempts, now=now, retry_after=getattr(error, "retry_after", None)
        )
        if retryable
        else None
    )
    text = f"{type(error).__name__}: {error}"[:_ERROR_MAX]
    if when is None:
        mine.update(status=Status.DEAD, leased_until=None, last_error=text)
        logger.error(
            "Outbox %s %s dead after %d attempts: %s",
            message.kind,
            message.pk,
            message.attempts,
            text,
            extra={"outbox_id": message.pk, "kind": message.kind},
        )
        return
    mine.update(leased_until=None, next_attempt_at=when, last_error=text)
    logger.warning(
        "Outbox %s %s attempt %d failed, next at %s: %s",
        message.kind,
        message.pk,
        message.attempts,
        when.isoformat(),
        text,
        extra={"outbox_id": message.pk, "kind": message.kind},
    )


# -- operations --------------------------------------------------------------------


def retry_now(ids: list[int]) -> int:
    """Make dead (or waiting) rows due now with their attempts reset: the admin's
    "retry". A dead row whose key has a pending row already is left alone (the
    pending one carries the newer state)."""
    count = 0
    for pk in ids:
        try:
            with transaction.atomic():
                count += OutboxMessage.objects.filter(
                    pk=pk, status__in=[Status.DEAD, Status.PENDING]
                ).update(
                    status=Status.PENDING,
                    attempts=0,
                    next_attempt_at=timezone.now(),
                    leased_until=None,
                )
        except IntegrityError:
            continue
    if count:
        transaction.on_commit(_kick)
    return count


def purge_done(*, older_than: dt.timedelta = KEEP_DONE) -> int:
    deleted, _ = OutboxMessage.objects.filter(
        status=Status.DONE, done_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


def oldest_due(now: dt.datetime) -> dt.datetime | None:
    """Since when the longest-waiting due row has been due (None: none is), for
    `/healthz/full`. A row being handled counts from its due time too, so a
    dispatcher stuck on it shows."""
    return OutboxMessage.objects.filter(
        status=Status.PENDING, next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
