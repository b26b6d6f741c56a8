"""Growth: the pages an organiser's data makes long run a constant number of queries.

Each test counts the queries of a page with a few rows, adds many more, and counts
again: the count must not grow (an N+1 query would add one per row). The times at
100,000 bookings are measured by bench/admin_pages.py, not here.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.selectors import availability_invalidate
from bookings.tests.factories import AttendeeFactory, BookingLineFactory
from bookings.tests.ticket_factories import TicketFactory
from events.models import Membership, Session
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)
from payments.tests.factories import PaymentFactory

from .world import sale

pytestmark = pytest.mark.django_db

FEW, MANY = 10, 200


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


# --- The event page, 500 dates ------------------------------------------------------


def _dates(event, venue, count, start=0):
    first = timezone.now() + dt.timedelta(days=2)
    Session.objects.bulk_create(
        Session(
            event=event,
            venue=venue,
            starts_at=first + dt.timedelta(hours=6 * number),
            ends_at=first + dt.timedelta(hours=6 * number + 2),
            capacity=100,
        )
        for number in range(start, start + count)
    )


def test_the_event_page_with_500_dates_runs_as_many_queries_as_with_10(client):
    event = EventFactory()
    venue = VenueFactory(organiser=event.organiser)
    for allocation in (None, 40, 20):
        TicketTypeFactory(event=event, allocation=allocation)
    _dates(event, venue, FEW)
    url = f"/e/{event.slug}/"
    sessions = Session.objects.filter(event=event)
    sale(sessions.first(), 2, 9000)
    client.get(url)  # warm whatever a first request loads once per process

    # Cold availability cache (after a sale or on expiry): counted in bulk.
    availability_invalidate(sessions.values_list("pk", flat=True))
    cold_few = _queries(client, url)
    warm_few = _queries(client, url)

    _dates(event, venue, 500 - FEW, start=FEW)
    availability_invalidate(sessions.values_list("pk", flat=True))
    cold_many = _queries(client, url)
    warm_many = _queries(client, url)
    page = client.get(url)

    assert page.context["session_count"] == 500
    assert (cold_many, warm_many) == (cold_few, warm_few)
    assert warm_many <= 3


# --- Admin changelists, 10 rows then 200 --------------------------------------------


@pytest.fixture
def manager(client):
    session = SessionFactory(capacity=10_000)
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.MANAGER
    )
    client.force_login(member.user)
    return client, session


def _bookings_with_everything(session, count):
    """Confirmed bookings, each with a line, an attendee, a ticket and a payment."""
    ticket_type = TicketTypeFactory(event=session.event)
    for number in range(count):
        booking = sale(session, 1, 4500, channel=("web", "api", "admin")[number % 3])
        line = BookingLineFactory(booking=booking, ticket_type=ticket_type, quantity=1)
        attendee = AttendeeFactory(booking=booking, line=line)
        TicketFactory(booking=booking, attendee=attendee)
        PaymentFactory(organiser=booking.organiser, booking=booking)


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:bookings_booking_changelist",
        "admin:payments_payment_changelist",
        "admin:events_session_changelist",
    ],
)
def test_changelists_run_as_many_queries_for_200_rows_as_for_10(manager, changelist):
    client, session = manager
    url = reverse(changelist)
    _bookings_with_everything(session, FEW)
    client.get(url)  # the session and content types, loaded once
    few = _queries(client, url)
    _bookings_with_everything(session, MANY - FEW)
    many = _queries(client, url)
    assert many <= few, f"{changelist}: {few} queries for {FEW} rows, {many} for {MANY}"
