"""Check-in at the door: the service's four results, undo, the page, and races."""

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admission.checkin import (
    ALREADY_USED,
    OK,
    UNKNOWN,
    VOID,
    CheckInUndoNotCheckedIn,
    CheckInUndoTicketUnknown,
    CheckInUndoTicketVoid,
    ticket_check_in,
    ticket_check_in_undo,
)
from admission.models import CheckIn
from bookings.models import Ticket
from bookings.tests.ticket_factories import TicketFactory
from events.models import Membership
from events.tests.factories import MembershipFactory, UserFactory
from ticketing.models import AuditEntry

CHECKIN_URL = "/checkin/"


@pytest.fixture
def ticket(db):
    return TicketFactory(code="7K3Q-XZ9M")


@pytest.fixture
def door(ticket):
    """A staff member of the ticket's organiser."""
    return MembershipFactory(
        organiser=ticket.organiser,
        user=UserFactory(username="door1"),
        role=Membership.Role.STAFF,
    ).user


def _scan(ticket_or_token, door, organiser_ids=None):
    token = getattr(ticket_or_token, "secret", ticket_or_token)
    if organiser_ids is None:
        organiser_ids = list(door.memberships.values_list("organiser_id", flat=True))
    return ticket_check_in(token=token, organiser_ids=organiser_ids, actor=door)


def _audit_actions(ticket):
    return list(
        AuditEntry.objects.filter(object_id=str(ticket.pk))
        .order_by("pk")
        .values_list("action", "organiser_id", "actor_label")
    )


# -- service ------------------------------------------------------------------------


@pytest.mark.django_db
def test_check_in_ok_then_already_used_with_when_and_by(ticket, door):
    before = timezone.now()

    first = _scan(ticket, door)

    assert first.result == OK
    assert first.ticket == ticket
    assert first.attendee_name == "Ada Lovelace"
    assert first.ticket_type == "Regular"
    assert first.session == ticket.session
    assert first.used_at is None
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED
    assert before <= ticket.checked_in_at <= timezone.now()
    assert ticket.checked_in_by == door
    check_in = CheckIn.objects.get(ticket=ticket)
    assert (check_in.action, check_in.actor, check_in.actor_label) == (
        CheckIn.Action.CHECK_IN,
        door,
        "door1",
    )
    assert _audit_actions(ticket) == [
        ("bookings.ticket.checked_in", ticket.organiser_id, "door1")
    ]
    entry = AuditEntry.objects.get(object_id=str(ticket.pk))
    assert entry.data == {"code": "7K3Q-XZ9M", "session_id": ticket.session_id}

    second = _scan(ticket, MembershipFactory(organiser=ticket.organiser).user)

    assert second.result == ALREADY_USED
    assert second.ticket == ticket
    assert second.attendee_name == "Ada Lovelace"
    assert second.used_at == ticket.checked_in_at
    assert second.used_by == "door1"
    ticket.refresh_from_db()
    assert ticket.checked_in_by == door
    assert CheckIn.objects.filter(ticket=ticket).count() == 1
    assert len(_audit_actions(ticket)) == 1


@pytest.mark.django_db
def test_check_in_by_api_key_label(ticket):
    result = ticket_check_in(
        token=ticket.secret,
        organiser_ids=[ticket.organiser_id],
        actor="api key: Gate app",
    )

    assert result.result == OK
    ticket.refresh_from_db()
    assert ticket.checked_in_by is None
    assert CheckIn.objects.get(ticket=ticket).actor_label == "api key: Gate app"
    again = ticket_check_in(
        token=ticket.secret, organiser_ids=[ticket.organiser_id], actor="other"
    )
    assert (again.result, again.used_by) == (ALREADY_USED, "api key: Gate app")


@pytest.mark.django_db
def test_void_ticket_is_void_and_unchanged(ticket, door):
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)

    result = _scan(ticket, door)

    assert result.result == VOID
    assert result.ticket == ticket
    assert result.attendee_name == "Ada Lovelace"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.checked_in_at, ticket.checked_in_by) == (
        Ticket.Status.VOID,
        None,
        None,
    )
    assert not CheckIn.objects.exists()
    assert _audit_actions(ticket) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token", ["", "   ", "nope", "7K3Q-XZ9N", "x" * 500, "7K3Q-XZ9M-EXTRA"]
)
def test_unknown_token(ticket, door, token):
    result = _scan(token, door)

    assert result.result == UNKNOWN
    assert result.ticket is None
    assert result.attendee_name == ""
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
    assert not CheckIn.objects.exists()


@pytest.mark.django_db
def test_secret_is_case_sensitive(ticket, door):
    Ticket.objects.filter(pk=ticket.pk).update(
        secret="AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_aBcDe"
    )

    assert _scan("abcdefghijklmnopqrstuvwxyz0123456789-_abcde", door).result == UNKNOWN
    assert _scan("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_aBcDe", door).result == OK


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token", ["7K3Q-XZ9M", "7k3qxz9m", "7k3q-xz9m", " 7K3Q XZ9M\n", "7K3QXZ9M"]
)
def test_human_code_any_case_with_or_without_dash(ticket, door, token):
    result = _scan(token, door)

    assert result.result == OK
    assert result.ticket == ticket
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED


@pytest.mark.django_db
def test_another_organisers_ticket_is_unknown(ticket, door):
    other = TicketFactory()
    assert other.organiser_id != ticket.organiser_id

    by_secret = _scan(other.secret, door)
    by_code = _scan(other.code, door)

    assert (by_secret.result, by_secret.ticket) == (UNKNOWN, None)
    assert (by_code.result, by_code.ticket) == (UNKNOWN, None)
    other.refresh_from_db()
    assert other.status == Ticket.Status.VALID
    assert not CheckIn.objects.exists()
    with pytest.raises(CheckInUndoTicketUnknown):
        ticket_check_in_undo(
            ticket_id=other.pk, organiser_ids=[ticket.organiser_id], actor=door
        )


@pytest.mark.django_db
def test_no_organisers_finds_nothing(ticket, door):
    assert _scan(ticket, door, organiser_ids=[]).result == UNKNOWN


@pytest.mark.django_db
def test_ticket_of_a_past_session_can_be_checked_in(ticket, door):
    session = ticket.session
    session.starts_at = timezone.now() - timezone.timedelta(days=400)
    session.ends_at = session.starts_at + timezone.timedelta(hours=3)
    session.save(update_fields=["starts_at", "ends_at"])

    assert _scan(ticket, door).result == OK


@pytest.mark.django_db
def test_undo_restores_valid_and_allows_a_new_check_in(ticket, door):
    assert _scan(ticket, door).result == OK

    undone = ticket_check_in_undo(
        ticket_id=ticket.pk, organiser_ids=[ticket.organiser_id], actor=door
    )

    assert undone == ticket
    assert (undone.status, undone.checked_in_at, undone.checked_in_by) == (
        Ticket.Status.VALID,
        None,
        None,
    )
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
    assert list(
        CheckIn.objects.filter(ticket=ticket)
        .order_by("pk")
        .values_list("action", "actor_label")
    ) == [(CheckIn.Action.CHECK_IN, "door1"), (CheckIn.Action.UNDO, "door1")]
    assert [action for action, _, _ in _audit_actions(ticket)] == [
        "bookings.ticket.checked_in",
        "bookings.ticket.check_in_undone",
    ]

    again = _scan(ticket.code.lower(), door)

    assert again.result == OK
    assert CheckIn.objects.filter(ticket=ticket).count() == 3
    ticket_check_in_undo(
        token=ticket.secret, organiser_ids=[ticket.organiser_id], actor=door
    )
    with pytest.raises(CheckInUndoNotCheckedIn):
        ticket_check_in_undo(
            token=ticket.secret, organiser_ids=[ticket.organiser_id], actor=door
        )
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
    assert CheckIn.objects.filter(ticket=ticket).count() == 4


@pytest.mark.django_db
def test_undo_refused_for_a_void_ticket(ticket, door):
    assert _scan(ticket, door).result == OK
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)

    with pytest.raises(CheckInUndoTicketVoid):
        ticket_check_in_undo(
            ticket_id=ticket.pk, organiser_ids=[ticket.organiser_id], actor=door
        )

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VOID
    assert CheckIn.objects.filter(ticket=ticket).count() == 1
    assert len(_audit_actions(ticket)) == 1


@pytest.mark.django_db
def test_undo_of_a_valid_ticket_is_refused(ticket, door):
    with pytest.raises(CheckInUndoNotCheckedIn):
        ticket_check_in_undo(
            ticket_id=ticket.pk, organiser_ids=[ticket.organiser_id], actor=door
        )
    assert not CheckIn.objects.exists()


# -- page ---------------------------------------------------------------------------


def _client_for(user, *sessions):
    """A logged-in client that has chosen to check in `sessions` (if any)."""
    client = Client()
    client.force_login(user)
    if sessions:
        response = client.post(
            reverse("admission:checkin-sessions"),
            {"sessions": [session.pk for session in sessions]},
        )
        assert response.status_code == 302, response.content.decode()
    return client


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_admin_login(ticket):
    client = Client()

    for response in (
        client.get(CHECKIN_URL),
        client.post(CHECKIN_URL, {"token": ticket.secret}),
    ):
        assert response.status_code == 302
        assert response["Location"] == "/admin/login/?next=/checkin/"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID


@pytest.mark.django_db
def test_non_staff_user_is_sent_to_the_admin_login(ticket):
    user = MembershipFactory(
        organiser=ticket.organiser, user__is_staff=False, role=Membership.Role.STAFF
    ).user

    response = _client_for(user).get(CHECKIN_URL)

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/checkin/"


@pytest.mark.django_db
def test_viewer_is_forbidden(ticket):
    viewer = MembershipFactory(
        organiser=ticket.organiser, role=Membership.Role.VIEWER
    ).user
    client = _client_for(viewer)

    assert client.get(CHECKIN_URL).status_code == 403
    assert client.post(CHECKIN_URL, {"token": ticket.secret}).status_code == 403
    undo_url = reverse("admission:checkin-undo")
    assert client.post(undo_url, {"ticket": ticket.pk}).status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID
    assert not CheckIn.objects.exists()


@pytest.mark.django_db
def test_staff_without_any_membership_is_forbidden(ticket):
    assert _client_for(UserFactory()).get(CHECKIN_URL).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.MANAGER])
def test_owner_and_manager_may_check_in(ticket, role):
    user = MembershipFactory(organiser=ticket.organiser, role=role).user

    response = _client_for(user, ticket.session).post(
        CHECKIN_URL, {"token": ticket.secret}
    )

    assert response.status_code == 200
    assert 'data-result="ok"' in response.content.decode()


@pytest.mark.django_db
def test_page_shows_an_autofocused_field_with_csrf(ticket, door):
    response = _client_for(door, ticket.session).get(CHECKIN_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="token"' in html
    assert "autofocus" in html
    assert "csrfmiddlewaretoken" in html
    assert 'role="status"' in html
    assert 'aria-live="polite"' in html
    assert "data-result" not in html


@pytest.mark.django_db
def test_post_without_csrf_token_is_refused(ticket, door):
    client = Client(enforce_csrf_checks=True)
    client.force_login(door)

    response = client.post(CHECKIN_URL, {"token": ticket.secret})

    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID


@pytest.mark.django_db
def test_page_scan_valid_then_already_used_then_undo(ticket, door):
    client = _client_for(door, ticket.session)

    valid = client.post(CHECKIN_URL, {"token": ticket.secret}).content.decode()

    assert 'data-result="ok"' in valid
    assert "Valid — Ada Lovelace, Regular" in valid
    assert ticket.code in valid
    assert ticket.session.event.title in valid
    assert f'name="ticket" value="{ticket.pk}"' in valid
    assert "Undo check-in of Ada Lovelace" in valid

    used = client.post(CHECKIN_URL, {"token": "7k3qxz9m"}).content.decode()

    ticket.refresh_from_db()
    local = timezone.localtime(ticket.checked_in_at, ticket.session.event.tzinfo)
    assert 'data-result="already_used"' in used
    # In the event's zone (Paris), whatever the server's; the date only on another day.
    assert f"at {local:%H:%M} by door1" in used
    assert 'name="ticket"' not in used

    undone = client.post(
        reverse("admission:checkin-undo"), {"ticket": ticket.pk}
    ).content.decode()

    assert 'data-result="undone"' in undone
    assert "Check-in undone — Ada Lovelace is valid again" in undone
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VALID

    refused = client.post(reverse("admission:checkin-undo"), {"ticket": ticket.pk})

    assert refused.status_code == 200
    assert 'data-result="undo-refused"' in refused.content.decode()
    assert "This ticket is not checked in." in refused.content.decode()


@pytest.mark.django_db
def test_page_void_and_unknown(ticket, door):
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)
    client = _client_for(door, ticket.session)

    void = client.post(CHECKIN_URL, {"token": ticket.code}).content.decode()
    unknown = client.post(CHECKIN_URL, {"token": "ZZZZ-ZZZZ"}).content.decode()
    foreign = client.post(
        CHECKIN_URL, {"token": TicketFactory().secret}
    ).content.decode()

    assert 'data-result="void"' in void
    assert ">Void<" in void
    assert "Ada Lovelace" in void
    for html in (unknown, foreign):
        assert 'data-result="unknown"' in html
        assert "Unknown ticket" in html
        assert "Ada Lovelace" not in html


@pytest.mark.django_db
def test_page_undo_of_another_organisers_ticket_is_refused(ticket, door):
    other = TicketFactory()
    ticket_check_in(token=other.secret, organiser_ids=[other.organiser_id], actor=None)

    response = _client_for(door).post(
        reverse("admission:checkin-undo"), {"ticket": other.pk}
    )

    assert 'data-result="undo-refused"' in response.content.decode()
    other.refresh_from_db()
    assert other.status == Ticket.Status.USED


@pytest.mark.django_db
def test_page_in_french(ticket, door):
    client = _client_for(door)
    client.cookies["django_language"] = "fr"

    response = client.get(CHECKIN_URL)

    assert response.status_code == 200
    assert '<html lang="fr">' in response.content.decode()


@pytest.mark.django_db
def test_page_used_on_another_day_shows_the_date(ticket, door):
    assert _scan(ticket, door).result == OK
    used_at = dt.datetime(2024, 3, 9, 18, 42, tzinfo=dt.UTC)  # 19:42 in Paris
    Ticket.objects.filter(pk=ticket.pk).update(checked_in_at=used_at)

    client = _client_for(door, ticket.session)
    html = client.post(CHECKIN_URL, {"token": ticket.code}).content.decode()

    assert "Already used on 03/09/2024 at 19:42 by door1" in html


@pytest.mark.django_db
def test_superuser_checks_in_any_organisers_ticket(ticket):
    admin = UserFactory(is_superuser=True)

    client = _client_for(admin, ticket.session)
    response = client.post(CHECKIN_URL, {"token": ticket.secret})

    assert 'data-result="ok"' in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.checked_in_by == admin


@pytest.mark.django_db
def test_undo_only_by_post(ticket, door):
    assert _client_for(door).get(reverse("admission:checkin-undo")).status_code == 405


# -- races --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("threads", [2, 10])
def test_simultaneous_scans_check_in_once(threads):
    ticket = TicketFactory()
    door = MembershipFactory(
        organiser=ticket.organiser, role=Membership.Role.STAFF
    ).user
    barrier = threading.Barrier(threads)

    def scan(_):
        try:
            barrier.wait(timeout=10)
            return ticket_check_in(
                token=ticket.secret, organiser_ids=[ticket.organiser_id], actor=door
            ).result
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = Counter(pool.map(scan, range(threads)))

    assert results == Counter({OK: 1, ALREADY_USED: threads - 1})
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED
    assert CheckIn.objects.filter(ticket=ticket).count() == 1
    assert CheckIn.objects.get(ticket=ticket).action == CheckIn.Action.CHECK_IN
    assert (
        AuditEntry.objects.filter(
            action="bookings.ticket.checked_in", object_id=str(ticket.pk)
        ).count()
        == 1
    )
