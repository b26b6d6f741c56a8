"""Races on PostgreSQL with real threads, each on its own connection.

A control test removes the session lock and shows the same race oversells, so these
tests prove the lock, not luck.
"""

import datetime as dt
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from bookings import availability as availability_module
from bookings.exceptions import InvalidTransition, SoldOut
from bookings.models import Booking
from bookings.services import (
    BuyerInput,
    booking_cancel,
    booking_confirm,
    booking_expire_stale,
)
from bookings.services import holds as holds_module
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory

from . import helpers

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 40  # PostgreSQL's default max_connections is 100; leave room for others.


def hold(session, *lines, **kwargs):
    """A hold by a buyer of their own: these races are between many buyers, each
    well inside the share of a session one email may hold."""
    buyer = BuyerInput(name="Buyer", email=f"buyer-{uuid.uuid4().hex[:12]}@example.org")
    return helpers.hold(session, *lines, buyer=buyer, **kwargs)


def _run_in_threads(work, items, threads=THREADS):
    """Run work(item) for each item across threads started together; return results."""
    barrier = threading.Barrier(min(threads, len(items)))

    def call(item):
        try:
            if barrier.n_waiting < barrier.parties:
                try:
                    barrier.wait(timeout=0.5)
                except threading.BrokenBarrierError:
                    pass
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, items))


def _outcome(callable_):
    try:
        return callable_()
    except SoldOut as error:
        return error
    except InvalidTransition as error:
        return error


def _taken(session):
    """Seats sold plus seats held by unexpired holds, straight from the rows."""
    session.refresh_from_db()
    held = (
        Booking.objects.filter(session=session)
        .holding()
        .aggregate(total=Sum("quantity"))["total"]
        or 0
    )
    confirmed = (
        Booking.objects.filter(
            session=session, status=Booking.Status.CONFIRMED
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )
    assert session.sold_count == confirmed, "sold counter drifted from the bookings"
    return confirmed + held


def _two_types_on_fifty_seats():
    session = SessionFactory(capacity=50)
    regular = TicketTypeFactory(event=session.event, price_minor=4500)
    reduced = TicketTypeFactory(event=session.event, price_minor=2500)
    return session, regular, reduced


def _buyers(regular, reduced, count=200, seed=7):
    rng = random.Random(seed)
    return [(rng.choice((regular, reduced)), rng.randint(1, 4)) for _ in range(count)]


def test_200_buyers_for_50_seats_sell_exactly_50(transactional_db):
    session, regular, reduced = _two_types_on_fifty_seats()
    buyers = _buyers(regular, reduced)

    results = _run_in_threads(
        lambda buyer: _outcome(lambda: hold(session, buyer)), buyers
    )

    won = [r for r in results if isinstance(r, Booking)]
    refused = [r for r in results if isinstance(r, SoldOut)]
    assert len(won) + len(refused) == 200, Counter(type(r).__name__ for r in results)
    assert all(error.code == "sold_out" for error in refused)
    assert sum(booking.quantity for booking in won) == 50
    assert _taken(session) == 50


def test_without_the_session_lock_the_same_race_oversells(
    transactional_db, monkeypatch
):
    """Control: read the session without FOR UPDATE and widen the window a little."""
    session, regular, reduced = _two_types_on_fifty_seats()
    real_compute = availability_module.compute_session_availability

    def slow_compute(*args, **kwargs):
        result = real_compute(*args, **kwargs)
        time.sleep(0.02)
        return result

    monkeypatch.setattr(
        holds_module,
        "session_for_update",
        lambda pk, **_: Session.objects.select_related("event__organiser", "venue").get(
            pk=pk
        ),
    )
    monkeypatch.setattr(holds_module, "compute_session_availability", slow_compute)

    _run_in_threads(
        lambda buyer: _outcome(lambda: hold(session, buyer)), _buyers(regular, reduced)
    )

    assert _taken(session) > 50


def test_lock_holds_the_same_slow_window(transactional_db, monkeypatch):
    """The same widened window with the lock in place: still exactly 50."""
    session, regular, reduced = _two_types_on_fifty_seats()
    real_compute = availability_module.compute_session_availability

    def slow_compute(*args, **kwargs):
        result = real_compute(*args, **kwargs)
        time.sleep(0.005)
        return result

    monkeypatch.setattr(holds_module, "compute_session_availability", slow_compute)
    results = _run_in_threads(
        lambda buyer: _outcome(lambda: hold(session, buyer)),
        _buyers(regular, reduced, count=120, seed=11),
    )
    assert all(isinstance(r, Booking | SoldOut) for r in results)
    assert _taken(session) == 50


def test_buyer_racing_a_confirmation_never_gets_that_seat(transactional_db):
    for _round in range(10):
        session = SessionFactory(capacity=1)
        ticket_type = TicketTypeFactory(event=session.event)
        first = hold(session, (ticket_type, 1))

        def act(role, first=first, session=session, ticket_type=ticket_type):
            if role == "confirm":
                return booking_confirm(booking_id=first.pk)
            return _outcome(lambda: hold(session, (ticket_type, 1)))

        confirmed, rival = _run_in_threads(act, ["confirm", "buy"], threads=2)
        assert confirmed.status == Booking.Status.CONFIRMED
        assert isinstance(rival, SoldOut)
        assert _taken(session) == 1


def test_late_confirmation_and_a_new_buyer_never_both_get_the_last_seat(
    transactional_db,
):
    outcomes = Counter()
    for _round in range(10):
        session = SessionFactory(capacity=1)
        ticket_type = TicketTypeFactory(event=session.event)
        late = hold(session, (ticket_type, 1))
        Booking.objects.filter(pk=late.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )

        def act(role, late=late, session=session, ticket_type=ticket_type):
            if role == "confirm":
                return _outcome(lambda: booking_confirm(booking_id=late.pk))
            return _outcome(lambda: hold(session, (ticket_type, 1)))

        confirmed, rival = _run_in_threads(act, ["confirm", "buy"], threads=2)
        winners = [r for r in (confirmed, rival) if isinstance(r, Booking)]
        assert len(winners) == 1
        outcomes["late payment won" if confirmed is winners[0] else "buyer won"] += 1
        assert _taken(session) == 1
    assert sum(outcomes.values()) == 10


def test_holds_confirmations_cancellations_and_expiry_at_once(transactional_db):
    session, regular, reduced = _two_types_on_fifty_seats()
    # Start with some paid, some held and some stale bookings.
    paid = [hold(session, (regular, 2)) for _ in range(5)]
    for booking in paid:
        booking_confirm(booking_id=booking.pk)
    held = [hold(session, (reduced, 2)) for _ in range(5)]
    stale = [hold(session, (regular, 1)) for _ in range(10)]
    Booking.objects.filter(pk__in=[b.pk for b in stale]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    jobs = (
        [("buy", buyer) for buyer in _buyers(regular, reduced, count=150, seed=3)]
        + [("confirm", b.pk) for b in held + stale]
        + [("cancel", b.pk) for b in paid]
        + [("expire", None)] * 5
    )
    random.Random(5).shuffle(jobs)

    def act(job):
        kind, payload = job
        if kind == "buy":
            return _outcome(lambda: hold(session, payload))
        if kind == "confirm":
            return _outcome(lambda: booking_confirm(booking_id=payload))
        if kind == "cancel":
            return _outcome(lambda: booking_cancel(booking_id=payload))
        return booking_expire_stale()

    results = _run_in_threads(act, jobs)

    unexpected = [
        r
        for r in results
        if not isinstance(r, Booking | SoldOut | InvalidTransition | int)
    ]
    assert unexpected == []
    assert _taken(session) <= 50
    # No seat leaked either way: one-seat buyers now fill the session exactly.
    while not isinstance(_outcome(lambda: hold(session, (regular, 1))), SoldOut):
        pass
    assert _taken(session) == 50
    for booking in paid:
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CANCELLED


def test_a_buyer_waiting_on_a_busy_session_is_told_to_retry(transactional_db, settings):
    from django.db import transaction

    from bookings.exceptions import InventoryBusy
    from bookings.locks import session_for_update

    settings.INVENTORY_LOCK_TIMEOUT_MS = 200
    session = SessionFactory(capacity=5)
    ticket_type = TicketTypeFactory(event=session.event)
    locked = threading.Event()
    release = threading.Event()

    def blocker(_):
        with transaction.atomic():
            session_for_update(session.pk)
            locked.set()
            release.wait(timeout=10)

    def buyer(_):
        locked.wait(timeout=10)
        started = time.monotonic()
        try:
            return _outcome(lambda: hold(session, (ticket_type, 1)))
        except InventoryBusy as error:
            return error, time.monotonic() - started
        finally:
            release.set()

    _, (error, waited) = _run_in_threads(
        lambda role: blocker(role) if role == "block" else buyer(role),
        ["block", "buy"],
        threads=2,
    )
    assert error.code == "busy"
    assert 0.15 < waited < 2
    assert Booking.objects.count() == 0


def test_two_expiry_runs_at_once_expire_each_hold_once(transactional_db):
    from ticketing.models import AuditEntry

    session = SessionFactory(capacity=5000)
    ticket_type = TicketTypeFactory(event=session.event, max_per_order=1)
    stale = [hold(session, (ticket_type, 1)) for _ in range(300)]
    Booking.objects.filter(pk__in=[b.pk for b in stale]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    counts = _run_in_threads(
        lambda _: booking_expire_stale(batch_size=25), range(4), threads=4
    )

    assert sum(counts) == 300
    assert Booking.objects.filter(status=Booking.Status.EXPIRED).count() == 300
    audited = AuditEntry.objects.filter(action="bookings.booking.expired")
    assert audited.count() == 300
    assert audited.values("object_id").distinct().count() == 300
