import datetime as dt

import pytest

from admission.door import session_label
from admission.models import CheckIn
from bookings.models import Ticket
from bookings.tests.ticket_factories import TicketFactory

from .api_fixtures import api_key, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkins/"


@pytest.fixture
def ticket():
    return TicketFactory(code="7K3Q-XZ9M", booking__event__timezone="Europe/Paris")


@pytest.fixture
def door(ticket):
    return api_key(ticket.organiser, scopes=("checkin",))


def test_first_scan_is_ok_then_already_used(client, ticket, door):
    response = post(client, URL, {"secret": ticket.secret}, door)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "ok"
    checked_in_at = dt.datetime.fromisoformat(body["ticket"].pop("checked_in_at"))
    assert checked_in_at.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))
    starts_at = body["ticket"]["session"].pop("starts_at")
    assert dt.datetime.fromisoformat(starts_at) == ticket.session.starts_at
    assert body["ticket"] == {
        "code": "7K3Q-XZ9M",
        "status": "USED",
        "booking": ticket.booking.reference,
        "attendee": {"name": "Ada Lovelace"},
        "ticket_type": {"id": ticket.ticket_type_id, "name": "Regular"},
        "session": {
            "id": ticket.session_id,
            "city": ticket.session.venue.city,
            "label": session_label(ticket.session),
        },
        "checked_in_by": body["ticket"]["checked_in_by"],
    }
    assert body["ticket"]["checked_in_by"].startswith("api key partner (tk_")
    again = post(client, URL, {"secret": "7k3qxz9m"}, door).json()
    assert again["result"] == "already_used"
    assert again["ticket"]["checked_in_by"] == body["ticket"]["checked_in_by"]
    assert CheckIn.objects.filter(ticket=ticket).count() == 1


def test_void_unknown_and_another_organisers_ticket(client, ticket, door):
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)
    void = post(client, URL, {"secret": ticket.secret}, door).json()
    assert (void["result"], void["ticket"]["status"]) == ("void", "VOID")
    assert void["ticket"]["checked_in_by"] is None
    assert post(client, URL, {"secret": "nope"}, door).json() == {
        "result": "unknown",
        "ticket": None,
    }
    stranger = TicketFactory()
    response = post(client, URL, {"secret": stranger.secret}, door)
    assert response.json() == {"result": "unknown", "ticket": None}
    stranger.refresh_from_db()
    assert stranger.status == Ticket.Status.VALID


def test_checkin_needs_the_checkin_scope_and_a_secret(client, ticket):
    assert post(client, URL, {"secret": ticket.secret}).status_code == 401
    read_write = api_key(ticket.organiser, scopes=("read", "write"))
    response = post(client, URL, {"secret": ticket.secret}, read_write)
    assert response.status_code == 403
    door = api_key(ticket.organiser, scopes=("checkin",))
    response = post(client, URL, {}, door)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["secret"]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID


def test_a_retried_scan_with_its_key_is_still_ok(client, ticket, door):
    first = post(client, URL, {"secret": ticket.secret}, door, "scan-1")
    again = post(client, URL, {"secret": ticket.secret}, door, "scan-1")
    assert first.json()["result"] == "ok"
    assert again.json() == first.json()
