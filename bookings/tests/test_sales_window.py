"""The sales window (issue 16, item 9): a session sells until its `sales_close_at`
(by default its start) and is listed until it ends; one selector says so for the
pages, the API and holds."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from bookings.exceptions import SalesClosed
from bookings.models import Booking
from bookings.selectors import availability_invalidate
from events import selectors
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.tests.api_fixtures import api_key, get, post

from .helpers import hold

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    cache.delete_pattern("checkout:*")


@pytest.fixture
def started():
    """A session that started an hour ago and ends in two hours."""
    now = timezone.now()
    session = SessionFactory(starts_at=now - HOUR, ends_at=now + 2 * HOUR, capacity=50)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    availability_invalidate([session.pk])
    return session, ticket_type


# The selector


def test_a_session_is_on_sale_until_it_starts_by_default():
    now = timezone.now()
    session = SessionFactory(starts_at=now + HOUR, ends_at=now + 3 * HOUR)
    assert selectors.session_sale_closed_reason(session, now) is None
    assert selectors.session_sale_closed_reason(session, now + HOUR) == "sales_closed"
    assert selectors.session_sale_closed_reason(session, now + 4 * HOUR) == (
        "sales_closed"
    )


def test_sales_close_at_moves_the_close_either_way():
    now = timezone.now()
    early = SessionFactory(
        starts_at=now + 2 * HOUR,
        ends_at=now + 4 * HOUR,
        sales_close_at=now - dt.timedelta(minutes=1),
    )
    late = SessionFactory(
        starts_at=now - HOUR, ends_at=now + HOUR, sales_close_at=now + HOUR / 2
    )
    assert selectors.session_sale_closed_reason(early, now) == "sales_closed"
    assert selectors.session_sale_closed_reason(late, now) is None


def test_the_queryset_form_agrees_with_the_selector():
    now = timezone.now()
    sessions = [
        SessionFactory(starts_at=now + HOUR, ends_at=now + 2 * HOUR),
        SessionFactory(starts_at=now - HOUR, ends_at=now + HOUR),
        SessionFactory(
            starts_at=now - HOUR, ends_at=now + HOUR, sales_close_at=now + HOUR / 2
        ),
        SessionFactory(
            starts_at=now + HOUR,
            ends_at=now + 2 * HOUR,
            sales_close_at=now - HOUR / 2,
        ),
        SessionFactory(
            starts_at=now + HOUR,
            ends_at=now + 2 * HOUR,
            sale_status=Session.SaleStatus.PAUSED,
        ),
    ]
    in_sql = set(
        selectors.sessions_on_sale(Session.objects.all(), now).values_list(
            "pk", flat=True
        )
    )
    in_python = {s.pk for s in sessions if selectors.session_is_on_sale(s, now)}
    assert in_sql == in_python == {sessions[0].pk, sessions[2].pk}


def test_sales_must_close_before_the_session_ends():
    now = timezone.now()
    session = SessionFactory.build(
        starts_at=now, ends_at=now + HOUR, sales_close_at=now + 2 * HOUR, capacity=5
    )
    with pytest.raises(ValidationError) as error:
        session.clean()
    assert "sales_close_at" in error.value.message_dict


# Holds, under the lock


def test_a_started_session_cannot_be_held(started):
    session, ticket_type = started
    with pytest.raises(SalesClosed, match="Sales for this session have closed"):
        hold(session, (ticket_type, 1))
    assert Booking.objects.count() == 0
    session.refresh_from_db()
    assert (session.sold_count, session.held_ceiling) == (0, 0)


def test_a_session_with_a_later_close_still_sells_after_it_starts(started):
    session, ticket_type = started
    Session.objects.filter(pk=session.pk).update(
        sales_close_at=timezone.now() + HOUR / 2
    )
    booking = hold(session, (ticket_type, 2))
    assert booking.status == Booking.Status.PENDING


# Pages


def test_event_page_lists_a_started_session_as_sales_closed(client, started):
    session, _ = started
    page = client.get(f"/e/{session.event.slug}/").content.decode()
    assert f'id="session-{session.pk}"' in page
    assert "Sales closed" in page
    assert "Sales ended" in page  # its ticket types, seats left or not
    assert "50 left" not in page
    assert f"/e/{session.event.slug}/checkout/?session={session.pk}" not in page


def test_checkout_neither_offers_nor_sells_a_started_session(client, started):
    session, ticket_type = started
    url = f"/e/{session.event.slug}/checkout/"
    form = client.get(url).content.decode()
    assert f'value="{session.pk}"' not in form
    answer = client.post(
        url,
        {
            "session": session.pk,
            f"qty_{ticket_type.pk}": 1,
            "buyer_name": "Ada",
            "buyer_email": "ada@example.org",
            "attendee_name_0": "Ada",
            "token": "t",
            "action": "book",
        },
    )
    assert answer.status_code == 400
    assert Booking.objects.count() == 0


# The API


def _order(session, ticket_type):
    return {
        "session": session.pk,
        "lines": [{"ticket_type": ticket_type.pk, "quantity": 1}],
        "buyer": {"name": "Ada", "email": "ada@example.org"},
        "attendees": [{"name": "Ada"}],
    }


def test_api_quote_and_booking_answer_409_sales_closed(client, started):
    session, ticket_type = started
    plain = api_key(session.event.organiser)
    basket = {
        "session": session.pk,
        "lines": [{"ticket_type": ticket_type.pk, "quantity": 1}],
    }
    quote = post(client, "/api/v1/quotes/", basket, plain)
    booking = post(client, "/api/v1/bookings/", _order(session, ticket_type), plain)

    assert (quote.status_code, quote.json()["error"]["code"]) == (409, "sales_closed")
    assert (booking.status_code, booking.json()["error"]["code"]) == (
        409,
        "sales_closed",
    )
    assert Booking.objects.count() == 0


def test_api_availability_and_catalogue_say_not_on_sale(client, started):
    session, ticket_type = started
    plain = api_key(session.event.organiser)
    availability = get(
        client, f"/api/v1/sessions/{session.pk}/availability/", plain
    ).json()
    events = get(client, "/api/v1/events/", plain).json()

    assert [t["on_sale"] for t in availability["ticket_types"]] == [False]
    [listed] = events["results"][0]["sessions"]
    assert (listed["id"], listed["on_sale"]) == (session.pk, False)


def test_api_still_quotes_before_the_close(client):
    session = SessionFactory()
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    plain = api_key(session.event.organiser)
    quote = post(
        client,
        "/api/v1/quotes/",
        {
            "session": session.pk,
            "lines": [{"ticket_type": ticket_type.pk, "quantity": 2}],
        },
        plain,
    )
    assert quote.status_code == 200
    assert quote.json()["total"]["amount"] == 9000


# Admin


def test_admin_edits_the_sales_close(client, started):
    session, _ = started
    admin = get_user_model().objects.create_superuser("root", "r@x.org", "pw")
    client.force_login(admin)
    event_page = client.get(f"/admin/events/event/{session.event_id}/change/")
    session_page = client.get(f"/admin/events/session/{session.pk}/change/")
    assert event_page.status_code == session_page.status_code == 200
    assert "sales_close_at" in event_page.content.decode()
    assert 'name="sales_close_at_0"' in session_page.content.decode()
    assert 'name="max_tickets_per_order"' in event_page.content.decode()
