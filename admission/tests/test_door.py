"""The door checks the session: the choice of sessions (remembered, only one's own),
another session's ticket refused with its session named and left untouched, and
the counter of who is in, on the page and as JSON."""

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from admission.checkin import ALREADY_USED, OK, UNKNOWN, WRONG_SESSION, ticket_check_in
from admission.door import door_count, door_sessions, session_label
from admission.models import CheckIn
from admission.views import CHOSEN_SESSIONS_KEY
from bookings.models import Ticket
from bookings.tests.ticket_factories import TicketFactory
from events.models import Membership
from events.tests.factories import MembershipFactory, SessionFactory
from ticketing.models import AuditEntry

from .door_fixtures import PARIS, door_user, ticket_for, tour

CHECKIN_URL = "/checkin/"
SESSIONS_URL = "/checkin/sessions/"
COUNT_URL = "/checkin/count/"


def _days_ahead(days: int, hour: int) -> dt.datetime:
    local = timezone.localtime(timezone.now(), PARIS) + dt.timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def tour_(db):
    return tour(paris_at=_days_ahead(1, 20), lyon_at=_days_ahead(2, 20))


@pytest.fixture
def door(tour_):
    return door_user(tour_.organiser)


def _client(user, *sessions):
    client = Client()
    client.force_login(user)
    if sessions:
        response = client.post(SESSIONS_URL, {"sessions": [s.pk for s in sessions]})
        assert response.status_code == 302
        assert response["Location"] == CHECKIN_URL
    return client


# -- labels -------------------------------------------------------------------------


@pytest.mark.django_db
def test_session_label_is_the_city_and_local_start_with_its_zone():
    lyon = tour(
        paris_at=dt.datetime(2027, 1, 17, 19, tzinfo=dt.UTC),
        lyon_at=dt.datetime(2027, 1, 18, 19, tzinfo=dt.UTC),  # 20:00 in Lyon
    ).lyon

    assert session_label(lyon) == "Lyon, 18 Jan 20:00 CET"
    with translation.override("fr"):
        assert session_label(lyon) == "Lyon, 18 jan. 20:00 CET"


# -- service ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_ticket_of_another_session_is_refused_naming_it_and_not_checked_in(
    tour_, door
):
    lyon_ticket = ticket_for(tour_.lyon, tour_.regular)

    result = ticket_check_in(
        token=lyon_ticket.secret,
        organiser_ids=[tour_.organiser.pk],
        actor=door,
        session_ids=[tour_.paris.pk],
    )

    assert result.result == WRONG_SESSION
    assert result.ticket == lyon_ticket
    assert result.session == tour_.lyon
    assert result.attendee_name == "Ada Lovelace"
    lyon_ticket.refresh_from_db()
    assert (lyon_ticket.status, lyon_ticket.checked_in_at) == (
        Ticket.Status.VALID,
        None,
    )
    assert not CheckIn.objects.exists()
    assert not AuditEntry.objects.filter(action="bookings.ticket.checked_in").exists()

    # At the Lyon door (or both), the same ticket is let in.
    at_both = ticket_check_in(
        token=lyon_ticket.code,
        organiser_ids=[tour_.organiser.pk],
        actor=door,
        session_ids=[tour_.paris.pk, tour_.lyon.pk],
    )
    assert at_both.result == OK


@pytest.mark.django_db
def test_wrong_session_wins_over_used_and_void_but_never_over_unknown(tour_, door):
    used = ticket_for(tour_.lyon, tour_.regular, status=Ticket.Status.USED)
    void = ticket_for(tour_.lyon, tour_.vip, status=Ticket.Status.VOID)
    stranger = TicketFactory()  # another organiser's

    def scan(ticket, session_ids):
        return ticket_check_in(
            token=ticket.secret,
            organiser_ids=[tour_.organiser.pk],
            actor=door,
            session_ids=session_ids,
        )

    assert scan(used, [tour_.paris.pk]).result == WRONG_SESSION
    assert scan(void, [tour_.paris.pk]).result == WRONG_SESSION
    foreign = scan(stranger, [tour_.paris.pk])
    assert (foreign.result, foreign.ticket, foreign.session) == (UNKNOWN, None, None)
    # No sessions chosen: every ticket is for another session.
    fresh = ticket_for(tour_.paris, tour_.regular)
    assert scan(fresh, []).result == WRONG_SESSION
    fresh.refresh_from_db()
    assert fresh.status == Ticket.Status.VALID


@pytest.mark.django_db(transaction=True)
def test_simultaneous_scans_at_the_right_door_check_in_once():
    tour_ = tour(paris_at=_days_ahead(1, 20), lyon_at=_days_ahead(2, 20))
    ticket = ticket_for(tour_.paris, tour_.regular)
    door = door_user(tour_.organiser)
    threads = 8
    barrier = threading.Barrier(threads)

    def scan(index):
        # Half the phones are at the Lyon door: refused, and no harm done.
        session = tour_.paris if index % 2 == 0 else tour_.lyon
        try:
            barrier.wait(timeout=10)
            return ticket_check_in(
                token=ticket.secret,
                organiser_ids=[tour_.organiser.pk],
                actor=door,
                session_ids=[session.pk],
            ).result
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = Counter(pool.map(scan, range(threads)))

    assert results == Counter({OK: 1, ALREADY_USED: 3, WRONG_SESSION: 4})
    assert CheckIn.objects.filter(ticket=ticket).count() == 1


# -- counter ------------------------------------------------------------------------


@pytest.mark.django_db
def test_counter_counts_used_of_not_void_per_ticket_type(tour_, door):
    for _ in range(3):
        ticket_for(tour_.paris, tour_.regular)
    ticket_for(tour_.paris, tour_.regular, status=Ticket.Status.USED)
    ticket_for(tour_.paris, tour_.regular, status=Ticket.Status.VOID)
    ticket_for(tour_.paris, tour_.vip, status=Ticket.Status.USED)
    ticket_for(tour_.lyon, tour_.vip, status=Ticket.Status.USED)
    ticket_for(tour_.lyon, tour_.vip)

    paris = door_count([tour_.paris.pk])
    both = door_count([tour_.paris.pk, tour_.lyon.pk])

    assert (paris.checked_in, paris.expected) == (2, 5)
    assert [(t.name, t.checked_in, t.expected) for t in paris.by_type] == [
        ("Regular", 1, 4),
        ("VIP", 1, 1),
    ]
    assert (both.checked_in, both.expected) == (3, 7)
    assert [(t.name, t.checked_in, t.expected) for t in both.by_type] == [
        ("Regular", 1, 4),
        ("VIP", 2, 3),
    ]
    assert door_count([]).as_json() == {
        "checked_in": 0,
        "expected": 0,
        "ticket_types": [],
    }


# -- the choice of sessions ---------------------------------------------------------


@pytest.mark.django_db
def test_sessions_offered_are_ones_own_today_and_upcoming_first(tour_, door):
    past = SessionFactory(
        event=tour_.paris.event,
        venue=tour_.paris.venue,
        starts_at=timezone.now() - dt.timedelta(days=3),
        ends_at=timezone.now() - dt.timedelta(days=3) + dt.timedelta(hours=2),
    )
    tonight_running = SessionFactory(
        event=tour_.paris.event,
        venue=tour_.paris.venue,
        starts_at=timezone.now() - dt.timedelta(hours=1),
        ends_at=timezone.now() + dt.timedelta(hours=1),
    )
    SessionFactory()  # another organiser's

    offered = door_sessions([tour_.organiser.pk])

    assert offered.upcoming == [tonight_running, tour_.paris, tour_.lyon]
    assert offered.past == [past]

    html = _client(door).get(CHECKIN_URL).content.decode()
    assert html.index(session_label(tour_.paris)) < html.index(session_label(past))
    assert html.count('name="sessions"') == 4


@pytest.mark.django_db
def test_without_a_choice_the_page_asks_for_one_and_checks_nothing_in(tour_, door):
    ticket = ticket_for(tour_.paris, tour_.regular)
    client = _client(door)

    page = client.get(CHECKIN_URL).content.decode()
    refused = client.post(CHECKIN_URL, {"token": ticket.secret})

    assert "Which sessions are you checking in?" in page
    assert 'name="token"' not in page
    assert refused.status_code == 400
    assert 'data-result="needs-choice"' in refused.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID


@pytest.mark.django_db
def test_the_choice_is_remembered_shown_and_changeable(tour_, door):
    client = _client(door, tour_.paris)

    page = client.get(CHECKIN_URL).content.decode()

    assert client.session[CHOSEN_SESSIONS_KEY] == [tour_.paris.pk]
    assert f'data-session="{tour_.paris.pk}"' in page
    assert f'data-session="{tour_.lyon.pk}"' not in page
    assert f'value="{tour_.paris.pk}" checked' in page
    assert "Change sessions" in page

    client.post(SESSIONS_URL, {"sessions": [tour_.lyon.pk, tour_.paris.pk]})
    page = client.get(CHECKIN_URL).content.decode()

    assert sorted(client.session[CHOSEN_SESSIONS_KEY]) == sorted(
        [tour_.paris.pk, tour_.lyon.pk]
    )
    assert f'data-session="{tour_.lyon.pk}"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("picked", ["nothing", "foreign", "junk"])
def test_a_bad_choice_is_a_form_error_and_keeps_the_old_one(tour_, door, picked):
    client = _client(door, tour_.paris)
    data = {
        "nothing": {},
        "foreign": {"sessions": [SessionFactory().pk]},
        "junk": {"sessions": ["x"]},
    }[picked]

    response = client.post(SESSIONS_URL, data)

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert client.session[CHOSEN_SESSIONS_KEY] == [tour_.paris.pk]


@pytest.mark.django_db
def test_a_remembered_session_is_dropped_when_the_user_loses_its_organiser(tour_, door):
    client = _client(door, tour_.paris)
    other = MembershipFactory(user=door, role=Membership.Role.STAFF).organiser
    door.memberships.filter(organiser=tour_.organiser).delete()

    page = client.get(CHECKIN_URL)

    assert other.pk != tour_.organiser.pk
    assert "Which sessions are you checking in?" in page.content.decode()
    assert client.get(COUNT_URL).json()["sessions"] == []


# -- the page -----------------------------------------------------------------------


@pytest.mark.django_db
def test_page_refuses_a_lyon_ticket_at_the_paris_door_and_counts(tour_, door):
    lyon_ticket = ticket_for(tour_.lyon, tour_.regular)
    paris_ticket = ticket_for(tour_.paris, tour_.vip)
    ticket_for(tour_.paris, tour_.regular)
    client = _client(door, tour_.paris)

    before = client.get(CHECKIN_URL).content.decode()
    refused = client.post(CHECKIN_URL, {"token": lyon_ticket.code}).content.decode()
    accepted = client.post(CHECKIN_URL, {"token": paris_ticket.code}).content.decode()

    assert '<span data-count="checked_in">0</span> / <span data-count="expected">2' in (
        before
    )
    assert 'data-result="wrong_session"' in refused
    assert f"This ticket is for {session_label(tour_.lyon)}" in refused
    assert "Undo check-in" not in refused
    assert 'data-result="ok"' in accepted
    assert '<span data-count="checked_in">1</span> / <span data-count="expected">2' in (
        accepted
    )
    lyon_ticket.refresh_from_db()
    assert lyon_ticket.status == Ticket.Status.VALID


@pytest.mark.django_db
def test_count_endpoint_sees_another_phones_scan(tour_, door):
    ticket = ticket_for(tour_.paris, tour_.vip)
    ticket_for(tour_.paris, tour_.regular)
    ticket_for(tour_.lyon, tour_.regular)
    phone_a = _client(door, tour_.paris)
    phone_b = _client(door_user(tour_.organiser, "door2"), tour_.paris)

    before = phone_a.get(COUNT_URL)
    phone_b.post(CHECKIN_URL, {"token": ticket.secret})
    after = phone_a.get(COUNT_URL)

    assert before.status_code == 200
    assert before["Cache-Control"].startswith("max-age=0")
    assert (before.json()["checked_in"], before.json()["expected"]) == (0, 2)
    assert after.json() == {
        "sessions": [tour_.paris.pk],
        "checked_in": 1,
        "expected": 2,
        "ticket_types": [
            {"id": tour_.regular.pk, "name": "Regular", "checked_in": 0, "expected": 1},
            {"id": tour_.vip.pk, "name": "VIP", "checked_in": 1, "expected": 1},
        ],
    }


@pytest.mark.django_db
def test_count_endpoint_is_for_door_staff_only(tour_):
    viewer = MembershipFactory(
        organiser=tour_.organiser, role=Membership.Role.VIEWER
    ).user

    assert Client().get(COUNT_URL).status_code == 302
    assert _client(viewer).get(COUNT_URL).status_code == 403
    assert (
        _client(viewer).post(SESSIONS_URL, {"sessions": [tour_.paris.pk]}).status_code
        == 403
    )


@pytest.mark.django_db
def test_page_loads_its_script_and_the_decoder_from_this_site(tour_, door):
    html = _client(door, tour_.paris).get(CHECKIN_URL).content.decode()

    assert '<script src="/static/js/checkin.js" defer></script>' in html
    assert 'data-decoder-url="/static/vendor/jsqr-1.4.0/jsQR.js"' in html
    assert "data-camera hidden" in html  # shown by the script when there is a camera


@pytest.mark.django_db
def test_the_door_page_in_french(tour_, door):
    lyon_ticket = ticket_for(tour_.lyon, tour_.regular)
    client = _client(door)
    client.cookies["django_language"] = "fr"

    asking = client.get(CHECKIN_URL).content.decode()
    client.post(SESSIONS_URL, {"sessions": [tour_.paris.pk]})
    refused = client.post(CHECKIN_URL, {"token": lyon_ticket.code}).content.decode()

    assert "Quelles séances contrôlez-vous ?" in asking
    assert "<legend>Aujourd'hui et à venir</legend>" in asking
    assert "Contrôler ces séances" in asking
    with translation.override("fr"):
        lyon = session_label(tour_.lyon)
    assert f"Ce billet est pour {lyon}" in refused
    for french in ("Changer de séances", "entrés", "Scanner avec la caméra"):
        assert french in refused
    assert "Arrêter la caméra" in refused


@pytest.mark.django_db
def test_each_chosen_session_links_its_printable_door_list(tour_, door):
    ticket_for(tour_.paris, tour_.regular)
    client = _client(door, tour_.paris)
    html = client.get(CHECKIN_URL).content.decode()
    url = f"/admin/reports/door-list/{tour_.paris.pk}/"

    assert f'href="{url}" data-testid="door-list"' in html
    # For when the network fails at the door: staff may open and print it.
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
