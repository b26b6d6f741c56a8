"""Writing what a fetch brought back: orders, listing figures, the session's external
sales and the oversold alert. Runs in the sync's own thread, one listing at a time,
each in its own transaction, so a listing that fails leaves the others written."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.services.inventory import (
    ExternalSalesResult,
    session_external_sales_set,
)
from ticketing.audit import audit_log

from ..models import ExternalOrder, Listing, OversoldAlert
from ..platforms.base import ExternalOrder as FetchedOrder
from ..platforms.base import Places
from . import alerting

logger = logging.getLogger(__name__)

# The next incremental import starts this long before the last one did: a ticket
# changed while we were fetching is fetched again, and the upsert makes that harmless.
CURSOR_OVERLAP = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ListingFetched:
    places: Places
    orders: list[FetchedOrder]
    started_at: dt.datetime


def _ticket_state(ticket) -> dict:
    return {
        "active": ticket.is_active,
        "quantity": ticket.quantity,
        "type_id": ticket.ticket_type_id,
        "type": ticket.ticket_type_name,
    }


def _active_quantity(tickets: dict) -> int:
    return sum(t["quantity"] for t in tickets.values() if t["active"])


def orders_upsert(listing: Listing, fetched: list[FetchedOrder]) -> int:
    """Insert or update the listing's orders by platform id; tickets merge into what
    earlier imports saw. Returns how many orders were created or changed."""
    if not fetched:
        return 0
    now = timezone.now()
    existing = {
        order.external_id: order
        for order in ExternalOrder.objects.select_for_update().filter(
            listing=listing, external_id__in=[o.external_id for o in fetched]
        )
    }
    to_create, to_update = [], []
    for incoming in fetched:
        order = existing.get(incoming.external_id)
        tickets = dict(order.tickets) if order else {}
        tickets.update({t.external_id: _ticket_state(t) for t in incoming.tickets})
        quantity = _active_quantity(tickets)
        values = {
            "tickets": tickets,
            "quantity": quantity,
            "status": ExternalOrder.Status.ACTIVE
            if quantity
            else ExternalOrder.Status.CANCELLED,
            "buyer_name": incoming.buyer_name[:200]
            or (order.buyer_name if order else ""),
            "buyer_email": incoming.buyer_email[:254]
            or (order.buyer_email if order else ""),
            "currency": incoming.currency or (order.currency if order else ""),
            "total_minor": incoming.total_minor
            if incoming.total_minor is not None
            else (order.total_minor if order else None),
            "placed_at": incoming.placed_at or (order.placed_at if order else None),
        }
        if order is None:
            to_create.append(
                ExternalOrder(
                    listing=listing,
                    external_id=incoming.external_id,
                    imported_at=now,
                    updated_at=now,
                    **values,
                )
            )
            continue
        if any(getattr(order, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(order, name, value)
            order.updated_at = now
            to_update.append(order)
    ExternalOrder.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        ExternalOrder.objects.bulk_update(
            to_update, [*values.keys(), "updated_at"], batch_size=500
        )
    return len(to_create) + len(to_update)


def listing_apply_success(listing: Listing, fetched: ListingFetched) -> tuple[int, int]:
    """Write a successful fetch. Returns (orders imported, places sold)."""
    with transaction.atomic(durable=True):
        imported = orders_upsert(listing, fetched.orders)
        sold = fetched.places.sold
        if sold is None:
            sold = ExternalOrder.objects.filter(
                listing=listing, status=ExternalOrder.Status.ACTIVE
            ).aggregate(n=Coalesce(Sum("quantity"), 0))["n"]
        now = timezone.now()
        Listing.objects.filter(pk=listing.pk).update(
            places_total=fetched.places.total,
            places_sold=sold,
            values_synced_at=now,
            is_stale=False,
            last_error="",
            orders_synced_until=fetched.started_at - CURSOR_OVERLAP,
        )
    return imported, sold


def listing_apply_failure(listing: Listing, message: str) -> None:
    """Keep the last good figures; only say they are stale and why."""
    Listing.objects.filter(pk=listing.pk).update(
        is_stale=True, last_error=message[:2000], last_error_at=timezone.now()
    )


@functools.cache
def _listing_figures_sql() -> str:
    # Written out: run under the session lock once per listing synced, where the
    # ORM spent more CPU building the aggregate than PostgreSQL spent running it.
    return (
        "SELECT COALESCE(SUM(places_sold), 0), MIN(values_synced_at), "
        "COALESCE(BOOL_OR(is_stale), false) "
        f"FROM {Listing._meta.db_table} WHERE session_id = %s AND is_enabled"
    )


def session_external_refresh(session_id: int) -> ExternalSalesResult:
    """Sum the session's listings into its external sales, under the session lock,
    and raise or clear the oversold alert."""

    def figures():
        with connection.cursor() as cursor:
            cursor.execute(_listing_figures_sql(), [session_id])
            sold, oldest, failing = cursor.fetchone()
        return sold, oldest, failing

    result = session_external_sales_set(session_id=session_id, external_figures=figures)
    _oversold_alert_update(result)
    return result


def _oversold_alert_update(result: ExternalSalesResult) -> None:
    open_alerts = OversoldAlert.objects.filter(
        session_id=result.session_id, resolved_at__isnull=True
    )
    if not result.oversold_by and not open_alerts.exists():
        # The usual case, once per listing synced: nothing to raise or resolve, so
        # no transaction and no locking read.
        return
    now = timezone.now()
    with transaction.atomic():
        alert = open_alerts.select_for_update().select_related("session__event").first()
        numbers = {
            "capacity": result.capacity,
            "sold_here": result.sold_here,
            "held_here": result.held_here,
            "sold_external": result.sold_external,
        }
        if result.oversold_by and alert is None:
            alert = OversoldAlert.objects.create(
                session_id=result.session_id, created_at=now, updated_at=now, **numbers
            )
            audit_log(
                action="integrations.session.oversold",
                obj=alert.session,
                organiser_id=alert.session.event.organiser_id,
                data={**numbers, "oversold_by": result.oversold_by},
            )
            logger.warning(
                "Session %s oversold by %d after external sales",
                result.session_id,
                result.oversold_by,
            )
            alerting.oversold_alert_raise(session=alert.session, result=result)
        elif result.oversold_by:
            OversoldAlert.objects.filter(pk=alert.pk).update(updated_at=now, **numbers)
            alerting.oversold_alert_raise(session=alert.session, result=result)
        elif alert is not None:
            OversoldAlert.objects.filter(pk=alert.pk).update(
                resolved_at=now, updated_at=now, **numbers
            )
            alerting.oversold_alert_resolve(result.session_id)
