"""Bookings added by hand in the admin: paid offline or complimentary."""

import pytest
from django.core import mail
from django.urls import reverse

from bookings.models import Booking, Ticket
from events.models import Membership, Session
from events.tests.factories import MembershipFactory, SessionFactory, TicketTypeFactory

from .factories import DiscountCodeFactory
from .helpers import hold

pytestmark = pytest.mark.django_db

URL = "/admin/bookings/booking/add/"


def _login(client, session, role):
    member = MembershipFactory(organiser=session.event.organiser, role=role)
    client.force_login(member.user)
    return member.user


def _post(client, session, ticket_type, quantity, payment="offline", **extra):
    data = {
        "session": session.pk,
        "token": extra.pop("token", "tok-1"),
        "payment": payment,
        "buyer_name": "Grace Hopper",
        "buyer_email": "grace@example.org",
        f"qty_{ticket_type.pk}": quantity,
        "attendees": "Ada Lovelace, ada@example.org\nCharles Babbage",
        **extra,
    }
    return client.post(URL, data)


def test_the_page_asks_for_a_date_then_offers_its_ticket_types(
    client, session, ticket_type
):
    _login(client, session, Membership.Role.STAFF)
    other = SessionFactory()  # another organiser's session is not offered
    first = client.get(URL).content.decode()
    assert f'value="{session.pk}"' in first
    assert f'value="{other.pk}"' not in first
    second = client.get(URL, {"session": session.pk}).content.decode()
    assert f'name="qty_{ticket_type.pk}"' in second
    assert "Complimentary" in second
    assert client.get(URL, {"session": other.pk}).content.decode().count(
        f'name="qty_{ticket_type.pk}"'
    ) == 0


def test_a_paid_offline_booking_is_confirmed_ticketed_and_sent(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    user = _login(client, session, Membership.Role.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, session, ticket_type, 3)
    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:bookings_booking_change", args=[booking.pk]
    )
    assert (booking.status, booking.channel, booking.is_complimentary) == (
        "confirmed",
        "admin",
        False,
    )
    assert booking.total_minor == 3 * 4500
    assert list(booking.attendees.values_list("name", "email")) == [
        ("Ada Lovelace", "ada@example.org"),
        ("Charles Babbage", ""),
        ("Grace Hopper", ""),
    ]
    assert Ticket.objects.filter(booking=booking, status="valid").count() == 3
    session.refresh_from_db()
    assert session.sold_count == 3
    assert [m.to for m in mail.outbox] == [["grace@example.org"]]
    entry = booking_audit(booking)
    assert entry.actor_id == user.pk


def booking_audit(booking):
    from ticketing.models import AuditEntry

    return AuditEntry.objects.get(
        object_id=str(booking.pk), action="bookings.booking.confirmed"
    )


def test_a_comp_is_free_flagged_and_counted_as_sold(client, session, ticket_type):
    _login(client, session, Membership.Role.MANAGER)
    response = _post(client, session, ticket_type, 2, payment="comp")
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.status, booking.is_complimentary, booking.total_minor) == (
        "confirmed",
        True,
        0,
    )
    assert set(booking.lines.values_list("price_rule", "unit_price_minor")) == {
        ("comp", 0)
    }
    assert Session.objects.get(pk=session.pk).sold_count == 2


def test_staff_may_not_give_comps(client, session, ticket_type):
    _login(client, session, Membership.Role.STAFF)
    response = _post(client, session, ticket_type, 1, payment="comp")
    assert response.status_code == 200
    assert "Only owners and managers may give comps." in response.content.decode()
    assert Booking.objects.count() == 0


def test_viewers_cannot_add_bookings(client, session, ticket_type):
    _login(client, session, Membership.Role.VIEWER)
    assert client.get(URL).status_code == 403
    assert _post(client, session, ticket_type, 1).status_code == 403
    assert Booking.objects.count() == 0


def test_a_manual_booking_never_oversells(client, session, ticket_type):
    """The session holds 10; 8 are held on the shop: 3 more by hand is refused."""
    _login(client, session, Membership.Role.OWNER)
    hold(session, (ticket_type, 8))
    response = _post(client, session, ticket_type, 3, payment="comp")
    assert response.status_code == 200
    assert "Not enough seats left for this order." in response.content.decode()
    assert Booking.objects.count() == 1
    assert Session.objects.get(pk=session.pk).sold_count == 0


def test_another_organisers_session_cannot_be_booked(client, session, ticket_type):
    _login(client, session, Membership.Role.OWNER)
    other = SessionFactory()
    other_type = TicketTypeFactory(event=other.event)
    response = _post(client, other, other_type, 1)
    assert response.status_code == 200  # back to choosing a date
    assert Booking.objects.count() == 0


def test_a_double_submit_makes_one_booking_and_a_code_applies(
    client, session, ticket_type
):
    _login(client, session, Membership.Role.OWNER)
    DiscountCodeFactory(organiser=session.event.organiser, code="HALF", percent=50)
    for _ in range(2):
        _post(client, session, ticket_type, 2, code="half", token="same")
    booking = Booking.objects.get()
    assert (booking.total_minor, booking.discount_code.code) == (4500, "HALF")
