"""Row locks for selling. Every path that decides seats takes them in this order:
the session row first, then its ticket types by id. One order means no deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import OperationalError, connection
from django.db.utils import DatabaseError

from events.models import Session, TicketType

from .exceptions import InventoryBusy


def set_lock_timeout() -> None:
    """Bound the wait for a busy session; callers map the timeout to InventoryBusy."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL lock_timeout = %s",
                [f"{settings.INVENTORY_LOCK_TIMEOUT_MS}ms"],
            )


def session_for_update(session_id: int) -> Session:
    """Lock one session row. FOR NO KEY UPDATE: serialises seat decisions for the
    session without blocking inserts of rows that merely reference it."""
    return (
        Session.objects.select_for_update(no_key=True, of=("self",))
        .select_related("event__organiser")
        .get(pk=session_id)
    )


def ticket_types_for_share(ticket_type_ids: Iterable[int]) -> dict[int, TicketType]:
    """Lock ticket types in id order against edits (price, allocation) during a sale.

    FOR SHARE rather than FOR UPDATE: sales of different sessions of one event must not
    queue behind each other; the session lock already serialises one session's seats.
    """
    ids = sorted(set(ticket_type_ids))
    if not ids:
        return {}
    if connection.vendor != "postgresql":
        rows = TicketType.objects.filter(pk__in=ids).order_by("pk")
    else:
        table = TicketType._meta.db_table
        rows = TicketType.objects.raw(
            f'SELECT * FROM "{table}" WHERE id = ANY(%s) ORDER BY id FOR SHARE', [ids]
        )
    return {ticket_type.pk: ticket_type for ticket_type in rows}


def is_lock_timeout(error: DatabaseError) -> bool:
    """PostgreSQL's lock_not_available (55P03) is what `lock_timeout` raises."""
    cause = getattr(error, "__cause__", None)
    return getattr(cause, "sqlstate", None) == "55P03"


class busy_on_lock_timeout:
    """Turn a lock timeout inside the block into InventoryBusy."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if (
            exc_type is not None
            and issubclass(exc_type, OperationalError)
            and is_lock_timeout(exc)
        ):
            raise InventoryBusy() from exc
        return False
