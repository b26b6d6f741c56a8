import re

import pytest
from django.core import mail, signing

from bookings.access import booking_page_path
from bookings.models import Booking
from events.models import Session
from events.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(session):
    return f"/e/{session.event.slug}/checkout/"


def _post(client, url, session, ticket_type, quantity, action="book", **extra):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "buyer_phone": "06 12 34 56 78",
        "token": "tok-1",
        "action": action,
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    data.update(extra)
    return client.post(url, data)


def test_checkout_page_offers_the_session_and_ticket_types(
    client, url, session, ticket_type
):
    page = client.get(url, {"session": session.pk}).content.decode()
    assert f'name="qty_{ticket_type.pk}"' in page
    assert f'value="{session.pk}" selected' in page
    assert 'name="website"' in page  # honeypot
    assert "csrfmiddlewaretoken" in page


def test_update_shows_one_row_per_ticket_and_the_server_price(
    client, url, session, ticket_type
):
    response = client.post(
        url,
        {
            "session": session.pk,
            f"qty_{ticket_type.pk}": 3,
            "buyer_name": "",
            "buyer_email": "",
            "token": "t",
            "action": "update",
        },
    )
    page = response.content.decode()
    assert 'name="attendee_name_2"' in page
    assert 'name="attendee_name_3"' not in page
    assert "135.00 EUR" in page
    assert Booking.objects.count() == 0


def test_booking_holds_seats_and_opens_the_booking_page(
    client, url, session, ticket_type
):
    response = _post(client, url, session, ticket_type, 2)
    booking = Booking.objects.get()
    assert response.status_code == 302
    path, token = response["Location"].split("?t=")
    assert path == f"/b/{booking.reference}/"
    assert signing.loads(token, salt="bookings.access") == booking.reference
    assert booking.status == Booking.Status.PENDING
    assert booking.buyer_phone == "+33612345678"
    assert booking.channel == Booking.Channel.WEB
    page = client.get(f"/b/{booking.reference}/")  # same browser session
    assert page.status_code == 200
    assert booking.reference in page.content.decode()


def test_submitting_twice_holds_once(client, url, session, ticket_type):
    _post(client, url, session, ticket_type, 2)
    _post(client, url, session, ticket_type, 2)
    assert Booking.objects.count() == 1


def test_free_booking_is_confirmed_end_to_end(client, url, session):
    free = TicketTypeFactory(event=session.event, price_minor=0)
    response = _post(client, url, session, free, 1)
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CONFIRMED
    page = client.get(response["Location"]).content.decode()
    assert 'data-state="confirmed"' in page
    assert "Guest 0" in page


def test_errors_stay_next_to_their_fields_and_the_form_keeps_what_was_typed(
    client, url, session, ticket_type
):
    response = _post(
        client,
        url,
        session,
        ticket_type,
        1,
        buyer_email="not-an-email",
        buyer_phone="12",
        attendee_name_0="",
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_buyer_email_error"' in page
    assert 'id="id_buyer_phone_error"' in page
    assert 'id="id_attendee_name_0_error"' in page
    assert 'value="Ada Lovelace"' in page
    assert Booking.objects.count() == 0


def test_sold_out_says_so_and_offers_another_date(client, url, session, ticket_type):
    Session.objects.filter(pk=session.pk).update(sold_count=session.capacity - 1)
    response = _post(client, url, session, ticket_type, 2)
    page = response.content.decode()
    # Sold out is 409, as on the API; the same form comes back, filled in.
    assert response.status_code == 409
    assert "Not enough seats left" in page
    assert "Pick another date" in page
    assert "1 left" in page
    assert 'value="Ada Lovelace"' in page
    assert Booking.objects.count() == 0


def test_honeypot_is_refused(client, url, session, ticket_type):
    response = _post(client, url, session, ticket_type, 1, website="http://spam")
    assert response.status_code == 400
    assert Booking.objects.count() == 0


def test_a_reference_alone_reveals_nothing(client, url, session, ticket_type):
    _post(client, url, session, ticket_type, 1)
    booking = Booking.objects.get()
    from django.test import Client

    stranger = Client()
    assert stranger.get(f"/b/{booking.reference}/").status_code == 404
    assert stranger.get(f"/b/{booking.reference}/?t=forged").status_code == 404
    assert stranger.get(booking_page_path(booking.reference)).status_code == 200


def test_lookup_emails_the_link_only_when_reference_and_email_match(
    client, url, session, ticket_type, django_capture_on_commit_callbacks
):
    _post(client, url, session, ticket_type, 1)
    booking = Booking.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        # An address of its own: other tests' lookups count against 127.0.0.1.
        wrong = client.post(
            "/b/lookup/",
            {"reference": booking.reference, "email": "eve@example.org"},
            follow=True,
            REMOTE_ADDR="198.51.100.23",
        )
    with django_capture_on_commit_callbacks(execute=True):
        right = client.post(
            "/b/lookup/",
            {"reference": booking.reference.lower(), "email": "ADA@example.org"},
            follow=True,
            REMOTE_ADDR="198.51.100.23",
        )
    assert wrong.content.decode().count("If that reference") == 1
    assert right.content.decode().count("If that reference") == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.org"]
    # The link's token is signed with a timestamp: compare what it grants, not its
    # text (a second may tick between the email and this line).
    token = re.search(rf"/b/{booking.reference}/\?t=(\S+)", mail.outbox[0].body)
    assert token is not None
    assert signing.loads(token.group(1), salt="bookings.access") == booking.reference
