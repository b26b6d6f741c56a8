"""`Session.held_ceiling`: an upper bound on held seats that lets a sale skip summing
the holds, and never lets it sell a seat that an unexpired hold still takes."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from bookings.exceptions import SoldOut
from bookings.locks import session_for_update, ticket_types_for_share_counted
from bookings.models import Booking
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory

from .factories import BookingFactory
from .helpers import hold

pytestmark = pytest.mark.django_db


def _ceiling(session) -> int:
    return Session.objects.values_list("held_ceiling", flat=True).get(pk=session.pk)


def _expire(*bookings) -> None:
    Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_each_hold_raises_the_ceiling_and_confirming_keeps_it(session, ticket_type):
    hold(session, (ticket_type, 2))
    booking = hold(session, (ticket_type, 3))
    assert _ceiling(session) == 5

    Booking.objects.filter(pk=booking.pk).update(
        status=Booking.Status.CONFIRMED, expires_at=None
    )
    assert _ceiling(session) == 5  # an upper bound may stay high


def test_holds_written_outside_the_service_raise_it_too(session):
    """The trigger, not the service, keeps the bound: rows from anywhere count."""
    BookingFactory(session=session, event=session.event, quantity=4)
    expired = BookingFactory(
        session=session, event=session.event, status=Booking.Status.EXPIRED
    )
    assert _ceiling(session) == 4

    Booking.objects.filter(pk=expired.pk).update(status=Booking.Status.PENDING)
    assert _ceiling(session) == 5

    _expire(expired)  # an earlier expiry takes no seat
    assert _ceiling(session) == 5
    Booking.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    assert _ceiling(session) == 6  # a hold given more time again


def test_one_statement_of_holds_raises_each_session_by_its_own_seats(session):
    other = SessionFactory(event=session.event, capacity=10)
    rows = [
        (session, "B-1", 2, Booking.Status.PENDING),
        (other, "B-2", 3, Booking.Status.PENDING),
        (session, "B-3", 4, Booking.Status.PENDING),
        (other, "B-4", 5, Booking.Status.CONFIRMED),
    ]
    Booking.objects.bulk_create(
        BookingFactory.build(
            organiser=session.event.organiser,
            event=session.event,
            session=target,
            reference=reference,
            quantity=quantity,
            status=status,
        )
        for target, reference, quantity, status in rows
    )
    assert (_ceiling(session), _ceiling(other)) == (6, 3)


def test_a_sale_that_the_ceiling_rules_out_counts_and_lowers_it(session, ticket_type):
    """Expired holds free their seats at once, whatever the ceiling still says."""
    stale = [hold(session, (ticket_type, 5)), hold(session, (ticket_type, 5))]
    _expire(*stale)
    assert _ceiling(session) >= 10  # the whole capacity of 10, by the bound

    booking = hold(session, (ticket_type, 4))

    assert booking.status == Booking.Status.PENDING
    assert _ceiling(session) == 4  # the exact count (0), then this hold


def test_the_ceiling_never_lets_an_unexpired_hold_be_sold_twice(session, ticket_type):
    hold(session, (ticket_type, 6))
    BookingFactory(session=session, event=session.event, quantity=3)

    with pytest.raises(SoldOut) as error:
        hold(session, (ticket_type, 2))

    assert error.value.session_available == 1
    assert _ceiling(session) == 9


def test_sold_out_on_an_allocation_reports_exact_figures(session):
    """The ceiling left room in the session, an allocation was short: the error
    still carries what the buyer could really take."""
    session = SessionFactory(capacity=100, event=session.event)
    limited = TicketTypeFactory(event=session.event, allocation=2, max_per_order=10)
    open_type = TicketTypeFactory(event=session.event, max_per_order=10)
    stale = hold(session, (open_type, 10))
    _expire(stale)
    hold(session, (limited, 2))
    assert _ceiling(session) == 12

    with pytest.raises(SoldOut) as error:
        hold(session, (limited, 1))

    assert error.value.session_available == 98
    assert error.value.ticket_types_available == {limited.pk: 0}


def test_with_room_under_the_ceiling_a_sale_reads_no_hold(session, ticket_type):
    for _ in range(3):
        hold(session, (ticket_type, 1))

    with transaction.atomic():
        locked = session_for_update(session.pk)
        _, roomy = ticket_types_for_share_counted(
            locked, [ticket_type.pk], timezone.now(), seats_wanted=7
        )
        _, tight = ticket_types_for_share_counted(
            locked, [ticket_type.pk], timezone.now(), seats_wanted=8
        )

    assert (roomy.held, roomy.held_is_ceiling) == (3, True)
    assert (tight.held, tight.held_is_ceiling) == (3, False)
