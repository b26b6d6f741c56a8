"""Publish, unpublish, duplicate from the event list; audited price/capacity edits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import ERROR, get_messages
from django.utils import timezone

from events import services
from events.admin import SessionForm
from events.models import Event, Membership, Session, TicketType
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
)
from events.tests.test_roles import admin_form_data, admin_url
from ticketing.models import AuditEntry

Role = Membership.Role


@pytest.fixture
def organiser(db):
    return OrganiserFactory()


@pytest.fixture
def staff(client, organiser):
    user = UserFactory()
    MembershipFactory(user=user, organiser=organiser, role=Role.STAFF)
    client.force_login(user)
    return user


@pytest.fixture
def draft(organiser):
    event = EventFactory(
        organiser=organiser,
        status=Event.Status.DRAFT,
        slug="summer-fest",
        title="Summer fest",
    )
    SessionFactory(event=event)
    TicketTypeFactory(event=event, price_minor=4500)
    return event


def run_action(client, action, *events):
    response = client.post(
        admin_url(Event, "changelist"),
        {"action": action, "_selected_action": [event.pk for event in events]},
        follow=True,
    )
    assert response.status_code == 200
    return [(message.level, str(message)) for message in response.context["messages"]]


def audit_rows(action, obj):
    return list(AuditEntry.objects.filter(action=action, object_id=str(obj.pk)))


def test_publish_puts_a_draft_on_sale_and_audits(client, staff, draft):
    messages = run_action(client, "publish_events", draft)

    draft.refresh_from_db()
    assert draft.status == Event.Status.PUBLISHED
    [entry] = audit_rows("events.event.published", draft)
    assert entry.actor == staff
    assert entry.organiser_id == draft.organiser_id
    assert entry.data == {
        "changes": {"status": {"before": "draft", "after": "published"}}
    }
    assert any("Published 1 event" in text for _level, text in messages)


def test_publish_without_sessions_is_refused_with_an_error(client, staff, organiser):
    empty = EventFactory(organiser=organiser, status=Event.Status.DRAFT)

    messages = run_action(client, "publish_events", empty)

    empty.refresh_from_db()
    assert empty.status == Event.Status.DRAFT
    assert not AuditEntry.objects.exists()
    assert [level for level, _text in messages] == [ERROR]
    assert "no session" in messages[0][1]


def test_publish_an_already_published_event_reports_an_error(client, staff, draft):
    services.event_publish(event=draft, actor=None)

    messages = run_action(client, "publish_events", draft)

    assert [level for level, _text in messages] == [ERROR]
    assert AuditEntry.objects.filter(action="events.event.published").count() == 1


def test_unpublish_takes_the_event_back_to_draft(client, staff, draft):
    services.event_publish(event=draft, actor=staff)

    run_action(client, "unpublish_events", draft)

    draft.refresh_from_db()
    assert draft.status == Event.Status.DRAFT
    [entry] = audit_rows("events.event.unpublished", draft)
    assert entry.actor == staff
    assert entry.data["changes"]["status"] == {"before": "published", "after": "draft"}


def test_unpublish_a_draft_reports_an_error(client, staff, draft):
    messages = run_action(client, "unpublish_events", draft)

    draft.refresh_from_db()
    assert draft.status == Event.Status.DRAFT
    assert [level for level, _text in messages] == [ERROR]
    assert not AuditEntry.objects.exists()


def test_duplicate_copies_sessions_and_ticket_types_with_zeroed_counters(
    client, staff, organiser
):
    source = EventFactory(
        organiser=organiser, slug="gala", title="Gala", status=Event.Status.PUBLISHED
    )
    starts = timezone.now() + dt.timedelta(days=40)
    sold = SessionFactory(
        event=source,
        capacity=80,
        starts_at=starts,
        sold_count=7,
        external_sold_count=3,
        external_synced_at=timezone.now(),
    )
    SessionFactory(
        event=source,
        venue=sold.venue,
        capacity=50,
        starts_at=starts + dt.timedelta(days=1),
    )
    TicketTypeFactory(
        event=source,
        name="Early",
        price_minor=3000,
        early_bird_price_minor=2000,
        early_bird_deadline_at=starts - dt.timedelta(days=10),
    )
    TicketTypeFactory(event=source, name="Regular", price_minor=4000, allocation=20)

    run_action(client, "duplicate_events", source)
    run_action(client, "duplicate_events", source)

    first, second = Event.objects.exclude(pk=source.pk).order_by("pk")
    assert (first.slug, second.slug) == ("gala-copy", "gala-copy-2")
    assert first.title == "Gala (copy)"
    assert first.status == Event.Status.DRAFT
    assert first.organiser == organiser
    sessions = list(
        first.sessions.order_by("starts_at").values_list(
            "venue",
            "starts_at",
            "capacity",
            "sold_count",
            "external_sold_count",
            "external_synced_at",
        )
    )
    assert sessions == [
        (sold.venue_id, starts, 80, 0, 0, None),
        (sold.venue_id, starts + dt.timedelta(days=1), 50, 0, 0, None),
    ]
    assert list(
        first.ticket_types.order_by("name").values_list(
            "name", "price_minor", "early_bird_price_minor", "allocation"
        )
    ) == [("Early", 3000, 2000, None), ("Regular", 4000, None, 20)]
    sold.refresh_from_db()
    assert (sold.sold_count, sold.external_sold_count) == (7, 3)
    assert source.sessions.count() == 2
    [entry] = audit_rows("events.event.duplicated", first)
    assert entry.actor == staff
    assert entry.organiser_id == organiser.pk
    assert entry.data == {
        "source_event_id": source.pk,
        "sessions": 2,
        "ticket_types": 2,
    }


def test_viewer_cannot_run_actions(client, organiser, draft):
    viewer = UserFactory()
    MembershipFactory(user=viewer, organiser=organiser, role=Role.VIEWER)
    client.force_login(viewer)

    for action in ("publish_events", "duplicate_events"):
        client.post(
            admin_url(Event, "changelist"),
            {"action": action, "_selected_action": [draft.pk]},
        )

    draft.refresh_from_db()
    assert draft.status == Event.Status.DRAFT
    assert Event.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_actions_ignore_events_of_other_organisers(client, staff):
    foreign = EventFactory(status=Event.Status.DRAFT)
    SessionFactory(event=foreign)
    TicketTypeFactory(event=foreign)

    run_action(client, "publish_events", foreign)
    run_action(client, "duplicate_events", foreign)

    foreign.refresh_from_db()
    assert foreign.status == Event.Status.DRAFT
    assert Event.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_price_edit_writes_an_audit_row_with_before_and_after(client, staff, draft):
    ticket_type = draft.ticket_types.get()

    change = client.get(admin_url(TicketType, "change", ticket_type.pk))
    response = client.post(
        admin_url(TicketType, "change", ticket_type.pk),
        admin_form_data(change, price_minor="52.00"),  # euros typed, cents stored
    )

    assert response.status_code == 302
    ticket_type.refresh_from_db()
    assert ticket_type.price_minor == 5200
    [entry] = audit_rows("events.ticket_type.updated", ticket_type)
    assert entry.actor == staff
    assert entry.organiser_id == draft.organiser_id
    assert entry.data == {"changes": {"price_minor": {"before": 4500, "after": 5200}}}


def test_saving_without_changes_writes_no_audit_row(client, staff, draft):
    ticket_type = draft.ticket_types.get()

    change = client.get(admin_url(TicketType, "change", ticket_type.pk))
    response = client.post(
        admin_url(TicketType, "change", ticket_type.pk), admin_form_data(change)
    )

    assert response.status_code == 302
    assert not AuditEntry.objects.exists()


def test_capacity_edit_in_the_event_inline_keeps_sales_made_meanwhile(
    client, staff, draft, monkeypatch
):
    session = draft.sessions.get()
    change = client.get(admin_url(Event, "change", draft.pk))
    validate = SessionForm.clean_capacity

    def sale_after_the_form_loaded_the_row(form):
        Session.objects.filter(pk=session.pk).update(sold_count=12)
        return validate(form)

    monkeypatch.setattr(
        SessionForm, "clean_capacity", sale_after_the_form_loaded_the_row
    )

    response = client.post(
        admin_url(Event, "change", draft.pk),
        admin_form_data(change, **{"sessions-0-capacity": "150"}),
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.capacity, session.sold_count) == (150, 12)
    [entry] = audit_rows("events.session.updated", session)
    assert entry.actor == staff
    assert entry.data == {"changes": {"capacity": {"before": 100, "after": 150}}}


def test_capacity_below_seats_sold_is_a_form_error(client, staff, draft):
    session = draft.sessions.get()
    Session.objects.filter(pk=session.pk).update(sold_count=30, external_sold_count=5)

    change = client.get(admin_url(Session, "change", session.pk))
    response = client.post(
        admin_url(Session, "change", session.pk), admin_form_data(change, capacity="34")
    )

    assert response.status_code == 200
    assert "capacity" in response.context["adminform"].form.errors
    session.refresh_from_db()
    assert session.capacity == 100
    assert not AuditEntry.objects.exists()


def test_service_refusal_on_save_rolls_back_and_shows_an_error(
    client, staff, draft, monkeypatch
):
    session = draft.sessions.get()

    def busy(**kwargs):
        raise services.CatalogueBusy

    monkeypatch.setattr(services, "session_update", busy)
    change = client.get(admin_url(Event, "change", draft.pk))
    response = client.post(
        admin_url(Event, "change", draft.pk),
        admin_form_data(change, title="Renamed", **{"sessions-0-capacity": "150"}),
    )

    assert response.status_code == 302
    assert response.url == admin_url(Event, "change", draft.pk)
    messages = [(m.level, str(m)) for m in get_messages(response.wsgi_request)]
    assert messages == [(ERROR, str(services.CatalogueBusy.default_message))]
    draft.refresh_from_db()
    session.refresh_from_db()
    assert draft.title == "Summer fest"
    assert session.capacity == 100
    assert not LogEntry.objects.exists()
