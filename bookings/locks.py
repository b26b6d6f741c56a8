"""Row locks for selling. Every path that decides seats takes them in this order:
the session row first, then its ticket types by id. One order means no deadlocks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import OperationalError
from django.db.utils import DatabaseError

from events.models import Event, Organiser, Session, TicketType
from ticketing import metrics
from ticketing.lib.sql import columns, select_models

from .availability import SeatCounts
from .exceptions import InventoryBusy
from .models import Booking, BookingLine


def session_for_update(session_id: int, *, generic_plans: bool = False) -> Session:
    """Lock one session row, with its event and organiser loaded. FOR NO KEY UPDATE:
    serialises seat decisions for the session without blocking inserts of rows that
    merely reference it.

    The same statement first sets this transaction's `lock_timeout`
    (INVENTORY_LOCK_TIMEOUT_MS; callers map running out of it to InventoryBusy): one
    round trip instead of two on every sale. The ORM would build this join anew on
    every call, which costs more CPU than running it (see ticketing.lib.sql).

    With `generic_plans`, the rest of the transaction runs its prepared statements
    on their generic plans (plan_cache_mode): for the sale, whose statements are
    written for it. PostgreSQL otherwise chose to plan the counting statement
    afresh on every sale, ~1 ms of CPU inside the lock. Not for transactions that
    run ORM queries on statuses: a generic plan cannot use a partial index.
    """
    started = time.monotonic()
    rows = select_models(
        _session_lock_sql(),
        [
            f"{settings.INVENTORY_LOCK_TIMEOUT_MS}ms",
            "force_generic_plan" if generic_plans else None,
            session_id,
        ],
        (Session, Event, Organiser),
    )
    metrics.LOCK_WAIT.observe(time.monotonic() - started)
    if not rows:
        raise Session.DoesNotExist(f"No session {session_id}")
    session, event, organiser = rows[0]
    event.organiser = organiser
    session.event = event
    return session


@functools.cache
def _session_lock_sql() -> str:
    # The settings are made in a materialised CTE that the locked row is joined
    # with, so they are in force before the row lock is requested.
    return (
        "WITH settings AS MATERIALIZED "
        "(SELECT set_config('lock_timeout', %s, true), set_config('plan_cache_mode', "
        "COALESCE(%s, current_setting('plan_cache_mode')), true)) "
        f"SELECT {columns(Session, 's')}, {columns(Event, 'e')}, "
        f"{columns(Organiser, 'o')} "
        f'FROM "{Session._meta.db_table}" s '
        f'JOIN "{Event._meta.db_table}" e ON e.id = s.event_id '
        f'JOIN "{Organiser._meta.db_table}" o ON o.id = e.organiser_id '
        "CROSS JOIN settings WHERE s.id = %s FOR NO KEY UPDATE OF s"
    )


def ticket_types_for_share(ticket_type_ids: Iterable[int]) -> dict[int, TicketType]:
    """Lock ticket types in id order against edits (price, allocation) during a sale.

    FOR SHARE rather than FOR UPDATE: sales of different sessions of one event must not
    queue behind each other; the session lock already serialises one session's seats.
    """
    ids = sorted(set(ticket_type_ids))
    if not ids:
        return {}
    table = TicketType._meta.db_table
    rows = TicketType.objects.raw(
        f'SELECT * FROM "{table}" WHERE id = ANY(%s) ORDER BY id FOR SHARE', [ids]
    )
    return {ticket_type.pk: ticket_type for ticket_type in rows}


def ticket_types_for_share_counted(
    session: Session, ticket_type_ids: Iterable[int], now, seats_wanted: int | None
) -> tuple[dict[int, TicketType], SeatCounts | None]:
    """`ticket_types_for_share`, and in the same statement the seats the session's
    bookings hold and take (SeatCounts; None when no ticket type was found, or off
    PostgreSQL, and the caller counts on its own).

    Summing the holds reads every unexpired hold of the session, inside the lock: in
    a rush, thousands. So when even `session.held_ceiling` (never below the seats
    held) leaves room for `seats_wanted`, the holds are not summed: SeatCounts
    carries the ceiling, marked `held_is_ceiling`, and every decision it allows is
    the one the exact count would allow. Otherwise (and always for `seats_wanted`
    None) the exact sum is written back as the new ceiling. Seats taken per
    allocated ticket type are always exact.

    Call it with the session lock held: this statement's snapshot then postdates
    every sale of the session, so counting in it is as exact as counting after it.
    """
    ids = sorted(set(ticket_type_ids))
    if not ids:
        return ticket_types_for_share(ids), None
    count_held = seats_wanted is None or not _ceiling_leaves_room(session, seats_wanted)
    rows = select_models(
        _counted_sql(count_held),
        {
            "ids": ids,
            "session": session.pk,
            "now": now,
            "ceiling": session.held_ceiling,
        },
        (TicketType,),
    )
    if not rows:
        return {}, None
    _, held, next_expiry, _ = rows[0]
    session.held_ceiling = held  # what the row now holds: the exact count, if taken
    counts = SeatCounts(
        held=held,
        next_hold_expiry_at=next_expiry,
        taken={tt.pk: taken for tt, _, _, taken in rows if tt.allocation is not None},
        held_is_ceiling=not count_held,
    )
    return {ticket_type.pk: ticket_type for ticket_type, *_ in rows}, counts


def _ceiling_leaves_room(session: Session, seats_wanted: int) -> bool:
    left = (
        session.capacity
        - session.sold_count
        - session.external_sold_count
        - session.held_ceiling
    )
    return left >= seats_wanted


@functools.cache
def _counted_sql(count_held: bool) -> str:
    # Held and taken seats as bookings.availability._seat_counts counts them with
    # the ORM (for display); change both together.
    #
    # Two statements rather than one with a flag, and statuses written in rather
    # than bound: each then keeps one generic plan. A flag made PostgreSQL plan the
    # statement afresh on every sale (~1 ms inside the lock), and a bound status
    # keeps a generic plan off the partial index of holds.
    pending, confirmed = Booking.Status.PENDING.value, Booking.Status.CONFIRMED.value
    booking = Booking._meta.db_table
    if count_held:
        held = f"""
SELECT COALESCE(SUM(quantity), 0) AS held, MIN(expires_at) AS next_expiry
FROM "{booking}"
WHERE session_id = %(session)s AND status = '{pending}' AND expires_at > %(now)s
), ceiling AS (
    UPDATE "{Session._meta.db_table}" SET held_ceiling = held.held
    FROM held
    WHERE id = %(session)s AND held_ceiling <> held.held"""
    else:
        held = "SELECT %(ceiling)s::integer AS held, NULL::timestamptz AS next_expiry"
    return f"""
WITH locked AS MATERIALIZED (
    SELECT * FROM "{TicketType._meta.db_table}"
    WHERE id = ANY(%(ids)s) ORDER BY id FOR SHARE
), held AS ({held}
), taken AS (
    -- A subquery per ticket type with an allocation, so that no plan can read the
    -- session's bookings when there is none.
    SELECT locked.id AS ticket_type_id, (
        SELECT COALESCE(SUM(line.quantity), 0)
        FROM "{BookingLine._meta.db_table}" line
        JOIN "{booking}" booking ON booking.id = line.booking_id
        WHERE line.ticket_type_id = locked.id
          AND booking.session_id = %(session)s
          AND (booking.status = '{confirmed}'
               OR (booking.status = '{pending}' AND booking.expires_at > %(now)s))
    ) AS taken
    FROM locked WHERE locked.allocation IS NOT NULL
)
SELECT {columns(TicketType, "locked")}, held.held, held.next_expiry,
       COALESCE(taken.taken, 0)
FROM locked CROSS JOIN held LEFT JOIN taken ON taken.ticket_type_id = locked.id
ORDER BY locked.id
"""


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
            metrics.BUSY.labels(reason="inventory_lock_timeout").inc()
            raise InventoryBusy() from exc
        return False
