import datetime as dt
import re

import pytest
from django.utils import timezone

from bookings.exceptions import BasketInvalid, NotOnSale, SalesClosed, SoldOut
from bookings.models import Attendee, Booking, BookingLine
from bookings.services import (
    AttendeeInput,
    BuyerInput,
    LineInput,
    booking_create,
)
from events.models import Event, Session
from events.tests.factories import EventFactory, SessionFactory, TicketTypeFactory
from ticketing.models import AuditEntry

from .helpers import BUYER, attendees, hold

pytestmark = pytest.mark.django_db


def test_hold_writes_pending_booking_lines_attendees_and_audit(session, ticket_type):
    before = timezone.now()
    booking = hold(session, (ticket_type, 2))

    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert booking.quantity == 2
    assert (booking.subtotal_minor, booking.discount_minor, booking.total_minor) == (
        9000,
        0,
        9000,
    )
    assert booking.currency == "EUR"
    assert before + dt.timedelta(minutes=15) <= booking.expires_at
    assert booking.expires_at <= timezone.now() + dt.timedelta(minutes=15)
    line = BookingLine.objects.get(booking=booking)
    assert (line.quantity, line.unit_price_minor, line.total_minor) == (2, 4500, 9000)
    assert list(
        Attendee.objects.filter(booking=booking).values_list("name", flat=True)
    ) == ["Guest 0", "Guest 1"]
    assert AuditEntry.objects.filter(
        action="bookings.booking.held",
        object_id=str(booking.pk),
        organiser_id=session.event.organiser_id,
    ).exists()
    session.refresh_from_db()
    assert session.sold_count == 0  # held, not sold


def test_reference_has_organiser_prefix_and_no_ambiguous_characters(
    session, ticket_type
):
    references = {hold(session, (ticket_type, 1)).reference for _ in range(5)}
    prefix = session.event.organiser.reference_prefix
    assert len(references) == 5
    for reference in references:
        assert re.fullmatch(rf"{prefix}-[2-9A-HJ-NP-Z]{{6}}", reference), reference


def test_hold_time_is_a_setting(session, ticket_type, settings):
    settings.BOOKING_HOLD_MINUTES = 5
    booking = hold(session, (ticket_type, 1))
    assert booking.expires_at <= timezone.now() + dt.timedelta(minutes=5)


def test_free_booking_is_confirmed_at_once_and_counted_sold(session):
    free = TicketTypeFactory(event=session.event, price_minor=0)
    booking = hold(session, (free, 3))
    booking.refresh_from_db()
    session.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.expires_at is None
    assert booking.total_minor == 0
    assert session.sold_count == 3


def test_not_enough_seats_says_what_is_left_and_writes_nothing(session, ticket_type):
    hold(session, (ticket_type, 8))
    with pytest.raises(SoldOut) as error:
        hold(session, (ticket_type, 3))
    assert error.value.code == "sold_out"
    assert error.value.session_available == 2
    assert error.value.ticket_types_available == {ticket_type.pk: 2}
    assert Booking.objects.count() == 1


def test_availability_subtracts_sold_and_external_sales(session, ticket_type):
    Session.objects.filter(pk=session.pk).update(sold_count=4, external_sold_count=5)
    with pytest.raises(SoldOut) as error:
        hold(session, (ticket_type, 2))
    assert error.value.session_available == 1
    assert hold(session, (ticket_type, 1)).quantity == 1


def test_ticket_type_allocation_is_enforced_per_session(session):
    limited = TicketTypeFactory(event=session.event, allocation=3)
    other_session = SessionFactory(event=session.event, venue=session.venue)
    hold(session, (limited, 3))
    with pytest.raises(SoldOut) as error:
        hold(session, (limited, 1))
    assert error.value.ticket_types_available[limited.pk] == 0
    assert error.value.session_available == 7
    # The allocation is per session: another session still has its own three.
    assert hold(other_session, (limited, 3)).quantity == 3


def test_expired_hold_frees_its_seats_without_any_job(session, ticket_type):
    stale = hold(session, (ticket_type, 10))
    Booking.objects.filter(pk=stale.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert hold(session, (ticket_type, 10)).quantity == 10
    assert Booking.objects.get(pk=stale.pk).status == Booking.Status.PENDING


def test_same_idempotency_key_returns_the_first_booking(session, ticket_type):
    first = hold(session, (ticket_type, 2), key="checkout-token-1")
    again = hold(session, (ticket_type, 2), key="checkout-token-1")
    assert again.pk == first.pk
    assert Booking.objects.count() == 1
    assert hold(session, (ticket_type, 2), key="checkout-token-2").pk != first.pk


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": Event.Status.DRAFT}, "not on sale"),
        (
            {
                "sales_end_at": timezone.now() - dt.timedelta(hours=1),
                "sales_start_at": timezone.now() - dt.timedelta(days=2),
            },
            "ended",
        ),
        ({"sales_start_at": timezone.now() + dt.timedelta(days=1)}, "not started"),
    ],
)
def test_event_not_on_sale_is_refused(session, ticket_type, change, message):
    Event.objects.filter(pk=session.event_id).update(**change)
    with pytest.raises(NotOnSale, match=message):
        hold(session, (ticket_type, 1))
    assert Booking.objects.count() == 0


def test_paused_or_past_session_is_refused(session, ticket_type):
    Session.objects.filter(pk=session.pk).update(sale_status=Session.SaleStatus.PAUSED)
    with pytest.raises(NotOnSale):
        hold(session, (ticket_type, 1))
    past = SessionFactory(
        event=session.event,
        venue=session.venue,
        starts_at=timezone.now() - dt.timedelta(days=1),
    )
    with pytest.raises(SalesClosed, match="closed"):
        hold(past, (ticket_type, 1))
    assert Booking.objects.count() == 0


def test_ticket_type_sales_window_is_enforced(session):
    later = TicketTypeFactory(
        event=session.event, sales_start_at=timezone.now() + dt.timedelta(days=1)
    )
    with pytest.raises(BasketInvalid) as error:
        hold(session, (later, 1))
    assert "lines.0.quantity" in error.value.fields
    assert "not started" in error.value.fields["lines.0.quantity"][0]


def _create(session, lines, people, buyer=BUYER):
    return booking_create(
        session_id=session.pk, lines=lines, buyer=buyer, attendees=people
    )


def test_bad_input_is_a_validation_error_and_writes_nothing(session, ticket_type):
    other_event_type = TicketTypeFactory(
        event=EventFactory(organiser=session.event.organiser)
    )
    cases = [
        ([LineInput(999_999, 1)], attendees(1), "lines.0.ticket_type"),
        ([LineInput(other_event_type.pk, 1)], attendees(1), "lines.0.ticket_type"),
        ([LineInput(ticket_type.pk, 0)], [], "lines.0.quantity"),
        ([LineInput(ticket_type.pk, 11)], attendees(11), "lines.0.quantity"),
        ([LineInput(ticket_type.pk, 2)], attendees(1), "attendees"),
        (
            [LineInput(ticket_type.pk, 1)],
            [AttendeeInput(name="  ")],
            "attendees.0.name",
        ),
        ([], [], "lines"),
    ]
    for lines, people, field in cases:
        with pytest.raises(BasketInvalid) as error:
            _create(session, lines, people)
        assert field in error.value.fields, (field, error.value.fields)
    with pytest.raises(BasketInvalid) as error:
        _create(
            session,
            [LineInput(ticket_type.pk, 1)],
            attendees(1),
            buyer=BuyerInput(name="", email="not-an-email"),
        )
    assert set(error.value.fields) == {"buyer.name", "buyer.email"}
    with pytest.raises(BasketInvalid) as error:
        booking_create(
            session_id=999_999,
            lines=[LineInput(ticket_type.pk, 1)],
            buyer=BUYER,
            attendees=attendees(1),
        )
    assert "session" in error.value.fields
    assert Booking.objects.count() == 0
    assert Attendee.objects.count() == 0


def test_attendees_fill_lines_in_order(session, ticket_type):
    second_type = TicketTypeFactory(event=session.event, price_minor=1000)
    people = [
        AttendeeInput("A"),
        AttendeeInput("B", "b@example.org"),
        AttendeeInput("C"),
    ]
    booking = booking_create(
        session_id=session.pk,
        buyer=BUYER,
        attendees=people,
        lines=[LineInput(ticket_type.pk, 1), LineInput(second_type.pk, 2)],
    )
    by_line = {
        line.ticket_type_id: [a.name for a in line.attendees.all()]
        for line in booking.lines.all()
    }
    assert by_line == {ticket_type.pk: ["A"], second_type.pk: ["B", "C"]}
    assert booking.total_minor == 4500 + 2000


def test_repeated_sales_run_prepared_statements(session, ticket_type):
    """With DATABASE_PREPARED_STATEMENTS (the default), PostgreSQL plans the sale's
    statements once per connection, not on every sale: after the lock, on their
    generic plans only."""
    from django.conf import settings
    from django.db import connection

    if not settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding"):
        pytest.skip("DATABASE_PREPARED_STATEMENTS is off in this environment")
    for _ in range(8):
        hold(session, (ticket_type, 1))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        plans = {text: (generic, custom) for text, generic, custom in cursor}
    assert any("set_config('lock_timeout'" in text for text in plans)
    after_lock = {
        text: counts
        for text, counts in plans.items()
        if ("FOR SHARE" in text and "held" in text)
        or "INSERT INTO bookings_booking" in text
    }
    assert len(after_lock) == 2
    assert all(generic >= 1 and custom == 0 for generic, custom in after_lock.values())
