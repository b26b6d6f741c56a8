"""Recomputing the sold counters from the bookings themselves."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from events.models import Session
from ticketing.audit import audit_log

from ..locks import busy_on_lock_timeout, session_for_update
from ..models import Booking
from ._common import after_commit


@dataclass(frozen=True, slots=True)
class InventoryDrift:
    session_id: int
    label: str
    counted: int
    recomputed: int
    fixed: bool
    counter: str = "sold_count"  # or "held_ceiling", when below the seats held

    @property
    def difference(self) -> int:
        return self.counted - self.recomputed


def _sessions_with_recomputed_sold(session_ids=None):
    confirmed = Q(bookings__status=Booking.Status.CONFIRMED)
    sessions = Session.objects.annotate(
        recomputed=Coalesce(Sum("bookings__quantity", filter=confirmed), 0)
    )
    if session_ids is not None:
        sessions = sessions.filter(pk__in=session_ids)
    return sessions.select_related("event", "venue").order_by("pk")


def inventory_check(
    *, fix: bool = False, session_ids=None, actor=None
) -> list[InventoryDrift]:
    """Every session whose `sold_count` differs from its confirmed bookings, or whose
    `held_ceiling` is below the seats its unexpired holds take, which only a disabled
    trigger could cause, and which would let sales oversell.
    With `fix`, each drifting counter is reset under the session lock (recounted
    there, so a sale in between is not undone) and an audit row records before and
    after."""
    drifts = _sold_drifts(fix, session_ids, actor)
    drifts += _held_ceiling_drifts(fix, session_ids, actor)
    return sorted(drifts, key=lambda drift: (drift.session_id, drift.counter))


def _sold_drifts(fix, session_ids, actor) -> list[InventoryDrift]:
    drifts = []
    for session in _sessions_with_recomputed_sold(session_ids):
        if session.sold_count == session.recomputed:
            continue
        fixed = False
        recomputed = session.recomputed
        if fix:
            recomputed, fixed = _fix_session(session.pk, actor)
        drifts.append(
            InventoryDrift(
                session.pk, str(session), session.sold_count, recomputed, fixed
            )
        )
    return drifts


def _fix_session(session_id: int, actor) -> tuple[int, bool]:
    with transaction.atomic(durable=True):
        session = session_for_update(session_id)
        recomputed = Booking.objects.filter(
            session_id=session_id, status=Booking.Status.CONFIRMED
        ).aggregate(total=Coalesce(Sum("quantity"), 0))["total"]
        if recomputed == session.sold_count:
            return recomputed, False
        audit_log(
            action="bookings.session.inventory_fixed",
            obj=session,
            organiser_id=session.event.organiser_id,
            actor=actor,
            data={"before": session.sold_count, "after": recomputed},
        )
        Session.objects.filter(pk=session_id).update(sold_count=recomputed)
        after_commit(session_id)
    return recomputed, True


def _held_ceiling_drifts(fix, session_ids, actor) -> list[InventoryDrift]:
    held = (
        Booking.objects.filter(session=OuterRef("pk"))
        .holding()
        .values("session")
        .annotate(seats=Sum("quantity"))
        .values("seats")
    )
    sessions = Session.objects.annotate(held=Coalesce(Subquery(held), 0)).filter(
        held_ceiling__lt=F("held")
    )
    if session_ids is not None:
        sessions = sessions.filter(pk__in=session_ids)
    drifts = []
    for session in sessions.select_related("event", "venue").order_by("pk"):
        held, fixed = session.held, False
        if fix:
            held, fixed = _fix_held_ceiling(session.pk, actor)
        drifts.append(
            InventoryDrift(
                session.pk,
                str(session),
                session.held_ceiling,
                held,
                fixed,
                counter="held_ceiling",
            )
        )
    return drifts


def _fix_held_ceiling(session_id: int, actor) -> tuple[int, bool]:
    with transaction.atomic(durable=True):
        session = session_for_update(session_id)
        held = (
            Booking.objects.filter(session_id=session_id)
            .holding()
            .aggregate(held=Coalesce(Sum("quantity"), 0))["held"]
        )
        if session.held_ceiling >= held:
            return held, False
        audit_log(
            action="bookings.session.held_ceiling_fixed",
            obj=session,
            organiser_id=session.event.organiser_id,
            actor=actor,
            data={"before": session.held_ceiling, "after": held},
        )
        Session.objects.filter(pk=session_id).update(held_ceiling=held)
    return held, True


ExternalFigures = tuple[int, "dt.datetime | None", bool]


@functools.cache
def _external_figures_save_sql() -> str:
    # One statement, written out: run once per listing synced, where the ORM spent
    # more CPU building the two queries than PostgreSQL spent running them.
    booking, session = Booking._meta.db_table, Session._meta.db_table
    return (
        f"WITH held AS (SELECT COALESCE(SUM(quantity), 0) AS seats FROM {booking} "
        "WHERE session_id = %(session)s AND status = %(pending)s "
        "AND expires_at > %(now)s) "
        f"UPDATE {session} SET external_sold_count = %(sold)s, "
        "external_sync_failing = %(failing)s, external_synced_at = %(synced_at)s "
        "WHERE id = %(session)s RETURNING (SELECT seats FROM held)"
    )


def _external_figures_save(
    session_id: int, sold: int, synced_at: dt.datetime | None, failing: bool
) -> int:
    """Save a session's external figures; returns the seats its holds keep now (the
    same count as `Booking.objects.holding()`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _external_figures_save_sql(),
            {
                "session": session_id,
                "pending": Booking.Status.PENDING.value,
                "now": timezone.now(),
                "sold": sold,
                "failing": failing,
                "synced_at": synced_at,
            },
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True, slots=True)
class ExternalSalesResult:
    """A session's seats after external sales were recorded (under its lock)."""

    session_id: int
    capacity: int
    sold_here: int
    held_here: int
    sold_external: int
    changed: bool

    @property
    def oversold_by(self) -> int:
        return max(
            0, self.sold_here + self.held_here + self.sold_external - self.capacity
        )


def session_external_sales_set(
    *, session_id: int, external_figures: Callable[[], ExternalFigures]
) -> ExternalSalesResult:
    """Record the seats sold on external platforms for a session.

    `external_figures` is called under the session lock and returns the seats sold
    externally (the sum over the session's listings' last good figures), when the
    oldest of those figures was fetched, and whether a listing's last sync failed.
    Reading them under the lock means two syncs finishing at once for listings of
    one session cannot overwrite each other's sum.

    Takes the session lock, like every change to the seats, so that a sale here never
    counts against half-written figures. Raises InventoryBusy when the session stays
    locked past the lock timeout. Sales pushing the session past its capacity cancel
    nothing here: availability drops to zero and the caller raises the alert.
    """
    with busy_on_lock_timeout(), transaction.atomic(durable=True):
        session = session_for_update(session_id)
        sold_external, synced_at, is_failing = external_figures()
        changed = session.external_sold_count != sold_external
        if changed:
            audit_log(
                action="bookings.session.external_sales_changed",
                obj=session,
                organiser_id=session.event.organiser_id,
                data={"before": session.external_sold_count, "after": sold_external},
            )
        held = _external_figures_save(session_id, sold_external, synced_at, is_failing)
        after_commit(session_id)
    return ExternalSalesResult(
        session_id=session_id,
        capacity=session.capacity,
        sold_here=session.sold_count,
        held_here=held,
        sold_external=sold_external,
        changed=changed,
    )
