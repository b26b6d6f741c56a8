"""`POST /checkins/` scoped to the sessions being checked in: another session's
ticket answers `wrong_session` naming that session, and is not checked in."""

import datetime as dt

import pytest

from admission.door import session_label
from admission.models import CheckIn
from admission.tests.door_fixtures import ticket_for, tour
from bookings.models import Ticket
from events.tests.factories import SessionFactory

from .api_fixtures import api_key, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkins/"


@pytest.fixture
def tour_():
    return tour(
        paris_at=dt.datetime(2027, 1, 17, 19, tzinfo=dt.UTC),
        lyon_at=dt.datetime(2027, 1, 18, 19, tzinfo=dt.UTC),
    )


@pytest.fixture
def door(tour_):
    return api_key(tour_.organiser, scopes=("checkin",))


def test_a_lyon_ticket_at_the_paris_door_is_wrong_session(client, tour_, door):
    ticket = ticket_for(tour_.lyon, tour_.regular)

    body = post(
        client, URL, {"secret": ticket.secret, "session": tour_.paris.pk}, door
    ).json()

    assert body["result"] == "wrong_session"
    assert body["ticket"]["session"] == {
        "id": tour_.lyon.pk,
        "starts_at": "2027-01-18T20:00:00+01:00",
        "city": "Lyon",
        "label": "Lyon, 18 Jan 20:00 CET",
    }
    assert body["ticket"]["status"] == "VALID"
    assert body["ticket"]["checked_in_by"] is None
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
    assert not CheckIn.objects.exists()


def test_the_right_session_or_a_list_including_it_checks_in(client, tour_, door):
    paris = ticket_for(tour_.paris, tour_.regular)
    lyon = ticket_for(tour_.lyon, tour_.vip)

    one = post(client, URL, {"secret": paris.code, "session": tour_.paris.pk}, door)
    both = post(
        client,
        URL,
        {"secret": lyon.code, "sessions": [tour_.paris.pk, tour_.lyon.pk]},
        door,
    )

    assert one.json()["result"] == "ok"
    assert both.json()["result"] == "ok"
    assert both.json()["ticket"]["session"]["label"] == session_label(tour_.lyon)
    assert Ticket.objects.filter(status=Ticket.Status.USED).count() == 2


def test_session_and_sessions_together_are_one_set(client, tour_, door):
    lyon = ticket_for(tour_.lyon, tour_.regular)

    body = post(
        client,
        URL,
        {"secret": lyon.secret, "session": tour_.lyon.pk, "sessions": [tour_.paris.pk]},
        door,
    ).json()

    assert body["result"] == "ok"


def test_in_french_the_session_is_named_in_french(client, tour_, door):
    ticket = ticket_for(tour_.lyon, tour_.regular)

    response = client.post(
        URL,
        {"secret": ticket.secret, "session": tour_.paris.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {door}",
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    label = response.json()["ticket"]["session"]["label"]
    assert label == "Lyon, 18 jan. 20:00 CET"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session": "paris"}, "session"),
        ({"session": 0}, "session"),
        ({"sessions": []}, "sessions"),
        ({"sessions": ["x"]}, "sessions"),
        ({"sessions": list(range(1, 60))}, "sessions"),
    ],
)
def test_malformed_sessions_are_field_errors(client, tour_, door, body, field):
    ticket = ticket_for(tour_.paris, tour_.regular)

    response = post(client, URL, {"secret": ticket.secret, **body}, door)

    assert response.status_code == 400
    assert [path.split(".")[0] for path in response.json()["error"]["fields"]] == [
        field
    ]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID


def test_another_organisers_session_reads_like_one_that_does_not_exist(
    client, tour_, door
):
    ticket = ticket_for(tour_.paris, tour_.regular)
    foreign = SessionFactory()

    theirs = post(client, URL, {"secret": ticket.secret, "session": foreign.pk}, door)
    nobodys = post(client, URL, {"secret": ticket.secret, "session": 99_999_999}, door)

    assert theirs.status_code == nobodys.status_code == 400
    assert theirs.json()["error"]["fields"] == {
        "session": [f"Unknown session: {foreign.pk}."]
    }
    assert nobodys.json()["error"]["fields"] == {
        "session": ["Unknown session: 99999999."]
    }
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
