"""Recomputing the sold counters from the bookings themselves."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from events.models import Session
from ticketing.audit import audit_log

from ..locks import session_for_update, set_lock_timeout
from ..models import Booking
from ._common import after_commit


@dataclass(frozen=True, slots=True)
class InventoryDrift:
    session_id: int
    label: str
    counted: int
    recomputed: int
    fixed: bool

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
    """Every session whose `sold_count` differs from its confirmed bookings. With `fix`,
    each drifting counter is reset under the session lock (recounted there, so a sale
    in between is not undone) and an audit row records before and after."""
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
        set_lock_timeout()
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
