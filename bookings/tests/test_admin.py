import pytest
from django.urls import reverse

from bookings.models import Booking
from bookings.services import booking_confirm
from events.models import Membership
from events.tests.factories import MembershipFactory, SessionFactory, TicketTypeFactory
from ticketing.models import AuditEntry

from .helpers import hold

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, session):
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.STAFF
    )
    client.force_login(member.user)
    return client


def test_changelist_lists_own_bookings_and_searches_by_email_and_attendee(
    staff_client, session, ticket_type
):
    mine = hold(session, (ticket_type, 2))
    other_session = SessionFactory()
    theirs = hold(other_session, (TicketTypeFactory(event=other_session.event), 1))
    url = reverse("admin:bookings_booking_changelist")

    page = staff_client.get(url).content.decode()
    assert mine.reference in page
    assert theirs.reference not in page
    assert (
        mine.reference
        in staff_client.get(url, {"q": "ada@example.org"}).content.decode()
    )
    assert mine.reference in staff_client.get(url, {"q": "Guest 1"}).content.decode()
    assert mine.reference not in staff_client.get(url, {"q": "nobody"}).content.decode()
    assert staff_client.get(
        reverse("admin:bookings_booking_change", args=[theirs.pk])
    ).status_code in (302, 403, 404)


def test_detail_shows_lines_attendees_and_audit_trail(
    staff_client, session, ticket_type
):
    booking = hold(session, (ticket_type, 2))
    booking_confirm(booking_id=booking.pk)
    page = staff_client.get(
        reverse("admin:bookings_booking_change", args=[booking.pk])
    ).content.decode()
    assert "Guest 0" in page
    assert "Guest 1" in page
    assert "bookings.booking.held" in page
    assert "bookings.booking.confirmed" in page


def test_cancel_action_cancels_and_returns_seats(
    staff_client, session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 3))
    booking_confirm(booking_id=booking.pk)
    response = staff_client.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "cancel_bookings", "_selected_action": [booking.pk]},
        follow=True,
    )
    assert "1 booking(s) cancelled." in response.content.decode()
    booking.refresh_from_db()
    session.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert session.sold_count == 0
    entry = AuditEntry.objects.get(action="bookings.booking.cancelled")
    assert entry.actor_label == response.wsgi_request.user.username

    again = staff_client.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "cancel_bookings", "_selected_action": [booking.pk]},
        follow=True,
    )
    assert "cannot change that way" in again.content.decode()



def test_viewer_cannot_cancel(client, session, ticket_type):
    viewer = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.VIEWER
    )
    client.force_login(viewer.user)
    booking = hold(session, (ticket_type, 1))
    client.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "cancel_bookings", "_selected_action": [booking.pk]},
    )
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING


def test_changelist_filters_by_status_and_session(staff_client, session, ticket_type):
    other = SessionFactory(event=session.event, venue=session.venue)
    here = hold(session, (ticket_type, 1))
    there = hold(other, (ticket_type, 1))
    booking_confirm(booking_id=there.pk)
    url = reverse("admin:bookings_booking_changelist")

    by_session = staff_client.get(url, {"session__id__exact": session.pk})
    by_status = staff_client.get(url, {"status__exact": "confirmed"})

    assert [b.pk for b in by_session.context["cl"].result_list] == [here.pk]
    assert [b.pk for b in by_status.context["cl"].result_list] == [there.pk]


def _filter_choices(response, title):
    spec = next(s for s in response.context["cl"].filter_specs if s.title == title)
    return {label for _, label in spec.lookup_choices}


def test_event_and_session_filters_list_only_the_organisers_own(
    staff_client, session, ticket_type
):
    from events.tests.factories import EventFactory

    organiser = session.event.organiser
    second = EventFactory(organiser=organiser, title="Second show")
    later = SessionFactory(event=second, venue=session.venue)
    long_ago = SessionFactory(
        event=session.event,
        venue=session.venue,
        starts_at=session.starts_at.replace(year=session.starts_at.year - 2),
        ends_at=session.ends_at.replace(year=session.ends_at.year - 2),
    )
    stranger = SessionFactory()  # another organiser's, never offered
    url = reverse("admin:bookings_booking_changelist")

    page = staff_client.get(url)
    by_event = staff_client.get(url, {"event__id__exact": session.event_id})

    assert _filter_choices(page, "event") == {session.event.title, "Second show"}
    # Recent and coming sessions by default; an event chosen lists all of its own.
    assert _filter_choices(page, "session") == {str(session), str(later)}
    assert _filter_choices(by_event, "session") == {str(session), str(long_ago)}
    assert str(stranger) not in _filter_choices(page, "session")
    assert stranger.event.title not in _filter_choices(page, "event")
