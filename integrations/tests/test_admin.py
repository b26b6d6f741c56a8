"""The integrations back office through the Django test client, as real admin users:
credentials written encrypted and never shown, the beat entry kept in step, "sync
now" and cache invalidation against the fake Billetweb, the breaker state, listing
figures and oversold alerts, and organiser tenancy."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from integrations.models import (
    Connection,
    ExternalOrder,
    Listing,
    OversoldAlert,
    Platform,
    PlatformWebhook,
    SyncRun,
)
from integrations.services.sync import connection_sync
from integrations.tests.factories import (
    ConnectionFactory,
    ExternalOrderFactory,
    ListingFactory,
    OversoldAlertFactory,
    PlatformWebhookFactory,
    SyncRunFactory,
)
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from integrations.tests.fakes.humanitix_server import humanitix_fake  # noqa: F401
from ticketing.lib.http import breaker_for
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "bw-secret-9f8e7d6c5b4a"
NO_LISTINGS = {
    "listings-TOTAL_FORMS": "0",
    "listings-INITIAL_FORMS": "0",
    "listings-MIN_NUM_FORMS": "0",
    "listings-MAX_NUM_FORMS": "1000",
}


def _url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _member(client, organiser, role=Membership.Role.MANAGER):
    membership = MembershipFactory(organiser=organiser, role=role)
    client.force_login(membership.user)
    return membership.user


def _superuser(client):
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    return user


def _action(client, model, action: str, *pks):
    return client.post(
        _url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], "index": "0"},
    )


def _form(**fields) -> dict:
    data = {
        "platform": "billetweb",
        "name": "Billetweb account",
        "account_id": "4242",
        "is_enabled": "on",
        "sync_interval_minutes": "20",
        "token": "",
        **NO_LISTINGS,
        "_save": "Save",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def organiser():
    return OrganiserFactory(name="Alpha Concerts")


@pytest.fixture
def fake(billetweb_fake):  # noqa: F811
    return billetweb_fake


@pytest.fixture
def connection(fake, organiser):
    connection = ConnectionFactory(organiser=organiser, account_id=fake.user)
    connection.set_credentials(fake.key)
    connection.save()
    return connection


def _listing(fake, connection, *, sold=0, quota=100):
    event_id = fake.add_event()
    date_id = fake.add_date(event_id, quota=quota)
    if sold:
        fake.sell(event_id, date_id, sold)
    return ListingFactory(
        connection=connection,
        session__capacity=100,
        session__event__organiser=connection.organiser,
        external_event_id=event_id,
        external_date_id=date_id,
    )


def _schedule(connection: Connection) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval").get(
        name=connection.schedule_name
    )


def _audit_text() -> str:
    return json.dumps(list(AuditEntry.objects.values("action", "actor_label", "data")))


# -- connections: credentials and schedule ---------------------------------------------


def test_adding_and_changing_a_connection_keeps_the_token_secret_and_the_schedule(
    client, organiser
):
    user = _superuser(client)

    response = client.post(
        _url(Connection, "add"), _form(organiser=organiser.pk, token=TOKEN)
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    connection = Connection.objects.get(organiser=organiser)
    assert connection.credentials_encrypted
    assert TOKEN not in connection.credentials_encrypted
    assert connection.credentials == TOKEN
    assert (connection.platform, connection.sync_interval_minutes) == ("billetweb", 20)
    task = _schedule(connection)
    assert task.task == "integrations.tasks.connection_sync_scheduled"
    assert json.loads(task.args) == [connection.pk]
    assert (task.interval.every, task.interval.period) == (20, IntervalSchedule.MINUTES)
    assert task.enabled is True
    created = AuditEntry.objects.get(
        action="integrations.connection.created", object_id=str(connection.pk)
    )
    assert created.organiser_id == organiser.pk
    assert created.actor_label == user.get_username()
    assert created.data["credentials_replaced"] is True

    page = client.get(_url(Connection, "change", connection.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert TOKEN not in html
    assert connection.credentials_encrypted not in html
    assert 'name="token"' in html  # the field is there, empty

    response = client.post(
        _url(Connection, "change", connection.pk),
        _form(organiser=organiser.pk, sync_interval_minutes="45", is_enabled=None),
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials == TOKEN  # an empty token field keeps it
    assert (connection.sync_interval_minutes, connection.is_enabled) == (45, False)
    task = _schedule(connection)
    assert (task.interval.every, task.interval.period) == (45, IntervalSchedule.MINUTES)
    assert task.enabled is False
    assert task.expire_seconds == 45 * 60
    assert PeriodicTask.objects.filter(name=connection.schedule_name).count() == 1
    changed = AuditEntry.objects.get(
        action="integrations.connection.changed", object_id=str(connection.pk)
    )
    assert changed.data["credentials_replaced"] is False
    assert changed.data["interval_minutes"] == 45

    # A new token replaces the old one, still encrypted and still unseen.
    new_token = "bw-rotated-0a1b2c3d"
    client.post(
        _url(Connection, "change", connection.pk),
        _form(organiser=organiser.pk, token=new_token),
    )
    connection.refresh_from_db()
    assert connection.credentials == new_token
    assert (
        new_token
        not in client.get(_url(Connection, "change", connection.pk)).content.decode()
    )
    for secret in (TOKEN, new_token):
        assert secret not in _audit_text()


def test_a_new_connection_needs_a_token(client, organiser):
    _superuser(client)

    response = client.post(_url(Connection, "add"), _form(organiser=organiser.pk))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.errors) == ["token"]
    assert "needs its API key" in form.errors["token"][0]
    assert not Connection.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="integrations-").exists()


def test_a_manager_adds_a_connection_only_for_their_organiser(client, organiser):
    _member(client, organiser, Membership.Role.MANAGER)
    other = OrganiserFactory(name="Bravo Shows")

    response = client.post(
        _url(Connection, "add"),
        _form(organiser=other.pk, platform="eventbrite", token=TOKEN),
    )

    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.organiser_id == organiser.pk  # the field is fixed, not posted
    assert connection.credentials == TOKEN
    html = client.get(_url(Connection, "change", connection.pk)).content.decode()
    assert TOKEN not in html
    # Eventbrite deliveries go to the per-connection address shown here.
    assert f"/webhooks/eventbrite/{connection.webhook_token}/" in html


def test_a_staff_member_cannot_add_or_change_a_connection(client, connection):
    _member(client, connection.organiser, Membership.Role.STAFF)
    before = connection.credentials_encrypted

    assert client.get(_url(Connection, "add")).status_code == 403
    response = client.post(
        _url(Connection, "add"),
        _form(organiser=connection.organiser_id, platform="humanitix", token=TOKEN),
    )
    assert response.status_code == 403
    client.post(
        _url(Connection, "change", connection.pk),
        _form(organiser=connection.organiser_id, token=TOKEN),
    )

    assert Connection.objects.count() == 1
    connection.refresh_from_db()
    assert connection.credentials_encrypted == before
    assert not AuditEntry.objects.filter(action__startswith="integrations.connection")


def test_a_refused_form_never_echoes_the_token(client, organiser):
    _superuser(client)

    response = client.post(
        _url(Connection, "add"),
        _form(organiser=organiser.pk, token=TOKEN, sync_interval_minutes="0"),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert TOKEN not in response.content.decode()
    assert not Connection.objects.exists()


def test_deleting_a_connection_removes_its_schedule(client, organiser):
    _superuser(client)
    client.post(_url(Connection, "add"), _form(organiser=organiser.pk, token=TOKEN))
    connection = Connection.objects.get()
    assert _schedule(connection)

    response = client.post(_url(Connection, "delete", connection.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Connection.objects.exists()
    assert not PeriodicTask.objects.filter(name=connection.schedule_name).exists()
    deleted = AuditEntry.objects.get(action="integrations.connection.deleted")
    assert deleted.object_id == str(connection.pk)
    assert TOKEN not in _audit_text()


def test_listings_are_added_inline_only_with_the_organisers_sessions(
    client, connection
):
    from events.tests.factories import SessionFactory

    _superuser(client)  # offered every session: the model must still refuse
    own = SessionFactory(event__organiser=connection.organiser)
    foreign = SessionFactory(event__organiser=OrganiserFactory(name="Bravo Shows"))

    def post(session):
        return client.post(
            _url(Connection, "change", connection.pk),
            _form(
                organiser=connection.organiser_id,
                account_id=connection.account_id,
                **{
                    "listings-TOTAL_FORMS": "1",
                    "listings-0-session": str(session.pk),
                    "listings-0-external_event_id": "777",
                    "listings-0-external_date_id": "888",
                    "listings-0-external_ticket_ids": '["11", "12"]',
                    "listings-0-is_enabled": "on",
                },
            ),
        )

    refused = post(foreign)

    assert refused.status_code == 200
    errors = refused.context["inline_admin_formsets"][0].formset.errors
    assert "session" in errors[0]
    assert not Listing.objects.exists()

    assert post(own).status_code == 302
    listing = Listing.objects.get()
    assert (listing.session_id, listing.connection_id) == (own.pk, connection.pk)
    assert listing.external_ticket_ids == ["11", "12"]
    assert AuditEntry.objects.filter(
        action="integrations.listing.created", object_id=str(listing.pk)
    ).exists()


def test_process_again_retries_a_failed_delivery(client, humanitix_fake, organiser):  # noqa: F811
    hx = humanitix_fake
    connection = ConnectionFactory(
        organiser=organiser, platform=Platform.HUMANITIX, account_id=""
    )
    connection.set_credentials(hx.api_key)
    connection.save()
    event_id = hx.add_event()
    date_id = hx.date_ids(event_id)[0]
    listing = ListingFactory(
        connection=connection,
        session__event__organiser=organiser,
        external_event_id=event_id,
        external_date_id=date_id,
    )
    hx.sell(event_id, date_id, 2)
    failed = PlatformWebhookFactory(
        connection=connection,
        platform=Platform.HUMANITIX,
        resource_url=f"{event_id}/{date_id}",
        status=PlatformWebhook.Status.FAILED,
        attempts=1,
    )
    rejected = PlatformWebhookFactory(
        connection=connection,
        platform=Platform.HUMANITIX,
        resource_url=f"{event_id}/{date_id}",
        status=PlatformWebhook.Status.REJECTED,
    )
    _member(client, organiser, Membership.Role.MANAGER)

    response = _action(client, PlatformWebhook, "process_again", failed.pk, rejected.pk)

    assert response.status_code == 302
    failed.refresh_from_db()
    rejected.refresh_from_db()
    assert (failed.status, failed.attempts) == ("processed", 2)
    assert (rejected.status, rejected.attempts) == ("rejected", 0)
    listing.refresh_from_db()
    assert listing.places_sold == 2
    assert SyncRun.objects.get().trigger == "webhook"


# -- sync now and the cache ------------------------------------------------------------


def test_sync_now_on_a_connection_runs_a_manual_sync(client, fake, connection):
    user = _superuser(client)
    listing = _listing(fake, connection, sold=3)

    response = _action(client, Connection, "sync_now", connection.pk)

    assert response.status_code == 302
    run = SyncRun.objects.get(connection=connection)
    assert (run.trigger, run.status, run.listings_synced) == ("manual", "success", 1)
    listing.refresh_from_db()
    assert (listing.places_total, listing.places_sold) == (100, 3)
    assert ExternalOrder.objects.get(listing=listing).quantity == 3
    requested = AuditEntry.objects.get(action="integrations.sync_requested")
    assert requested.object_id == str(connection.pk)
    assert requested.actor_label == user.get_username()
    started = AuditEntry.objects.get(action="integrations.sync_started")
    assert started.actor_label == user.get_username()


def test_sync_now_on_a_listing_syncs_only_that_listing(client, fake, connection):
    _member(client, connection.organiser, Membership.Role.MANAGER)
    chosen = _listing(fake, connection, sold=2)
    untouched = _listing(fake, connection, sold=5)

    response = _action(client, Listing, "sync_now", chosen.pk)

    assert response.status_code == 302
    run = SyncRun.objects.get(connection=connection)
    assert (run.trigger, run.listings_synced, run.listings_cached) == ("manual", 1, 0)
    chosen.refresh_from_db()
    untouched.refresh_from_db()
    assert chosen.places_sold == 2
    assert (untouched.values_synced_at, untouched.places_sold) == (None, 0)
    assert fake.calls(f"/event/{chosen.external_event_id}/")
    assert not fake.calls(f"/event/{untouched.external_event_id}/")


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_sync_now_queues_the_run_and_its_pages_follow_it(
    client, fake, connection, monkeypatch
):
    from integrations import tasks

    queued: list[tuple] = []
    monkeypatch.setattr(
        tasks.sync_run_execute_task, "delay", lambda *args: queued.append(args)
    )
    user = _superuser(client)
    listing = _listing(fake, connection, sold=3)

    response = client.post(
        _url(Connection, "changelist"),
        {"action": "sync_now", "_selected_action": [connection.pk], "index": "0"},
        follow=True,
    )

    run = SyncRun.objects.get(connection=connection)
    assert (run.trigger, run.status) == ("manual", "running")
    assert not fake.requests  # the request did not wait for the platform
    run_url = _url(SyncRun, "change", run.pk)
    (message,) = _messages(response)
    assert f'<a href="{run_url}">sync #{run.pk}</a> queued for' in message
    assert "Running" in message
    connection_page = client.get(_url(Connection, "change", connection.pk))
    assert f'<a href="{run_url}">sync #{run.pk}</a>: Running' in (
        connection_page.content.decode()
    )
    assert '<meta http-equiv="refresh" content="3">' in (
        client.get(run_url).content.decode()
    )
    again = _action(client, Connection, "sync_now", connection.pk)
    assert again.status_code == 302
    assert SyncRun.objects.filter(connection=connection).count() == 1
    assert len(queued) == 1

    tasks.sync_run_execute_task.apply(args=queued[0])  # the worker

    run.refresh_from_db()
    assert (run.status, run.listings_synced) == ("success", 1)
    listing.refresh_from_db()
    assert listing.places_sold == 3
    assert 'http-equiv="refresh"' not in client.get(run_url).content.decode()
    assert f'<a href="{run_url}">sync #{run.pk}</a>: Success (1 synced' in (
        client.get(_url(Connection, "change", connection.pk)).content.decode()
    )
    completed = AuditEntry.objects.get(action="integrations.sync_completed")
    assert completed.actor_label == user.get_username()


def test_sync_now_on_a_disabled_connection_says_why_and_queues_nothing(
    client, fake, connection
):
    Connection.objects.filter(pk=connection.pk).update(is_enabled=False)
    _superuser(client)

    response = client.post(
        _url(Connection, "changelist"),
        {"action": "sync_now", "_selected_action": [connection.pk], "index": "0"},
        follow=True,
    )

    assert _messages(response) == ["This connection is disabled or has no credentials."]
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("model", [Listing, Connection], ids=["listing", "connection"])
def test_forgetting_cached_figures_makes_the_next_sync_fetch(
    client, fake, connection, model
):
    _member(client, connection.organiser, Membership.Role.MANAGER)
    listing = _listing(fake, connection, sold=1)
    connection_sync(connection_id=connection.pk, trigger="schedule")
    fake.sell(listing.external_event_id, listing.external_date_id, 2)
    calls = len(fake.requests)

    cached = connection_sync(connection_id=connection.pk, trigger="schedule")

    assert (cached.listings_cached, cached.listings_synced) == (1, 0)
    assert len(fake.requests) == calls
    listing.refresh_from_db()
    assert listing.places_sold == 1  # served from the cache: not fetched

    target = listing if model is Listing else connection
    assert _action(client, model, "invalidate_cache", target.pk).status_code == 302
    fetched = connection_sync(connection_id=connection.pk, trigger="schedule")

    assert (fetched.listings_cached, fetched.listings_synced) == (0, 1)
    assert len(fake.requests) > calls
    listing.refresh_from_db()
    assert listing.places_sold == 3


def test_only_a_superuser_forgets_a_whole_platforms_cache(client, fake, connection):
    _listing(fake, connection, sold=1)
    connection_sync(connection_id=connection.pk, trigger="schedule")
    _member(client, connection.organiser, Membership.Role.MANAGER)

    response = _action(client, Connection, "invalidate_platform_cache", connection.pk)

    assert response.status_code == 302
    run = connection_sync(connection_id=connection.pk, trigger="schedule")
    assert run.listings_cached == 1  # nothing forgotten

    client.logout()
    _superuser(client)
    _action(client, Connection, "invalidate_platform_cache", connection.pk)

    run = connection_sync(connection_id=connection.pk, trigger="schedule")
    assert (run.listings_cached, run.listings_synced) == (0, 1)


# -- what the pages show ---------------------------------------------------------------


def test_the_connection_pages_show_the_circuit_breaker_state(client, connection):
    _member(client, connection.organiser, Membership.Role.MANAGER)

    changelist = client.get(_url(Connection, "changelist")).content.decode()
    change = client.get(_url(Connection, "change", connection.pk)).content.decode()
    assert "closed (0 recent failures)" in changelist
    assert "closed (0 recent failures)" in change

    breaker_for("billetweb").record_failure(was_probe=True)

    changelist = client.get(_url(Connection, "changelist")).content.decode()
    change = client.get(_url(Connection, "change", connection.pk)).content.decode()
    assert "open: calls paused for" in changelist
    assert "open: calls paused for" in change
    assert "closed (" not in changelist


def test_the_listing_changelist_shows_places_and_their_age(client, fake, connection):
    _member(client, connection.organiser, Membership.Role.MANAGER)
    listing = _listing(fake, connection, sold=4, quota=60)
    never = _listing(fake, connection)
    connection_sync(
        connection_id=connection.pk, trigger="schedule", listing_ids=[listing.pk]
    )

    html = client.get(_url(Listing, "changelist")).content.decode()

    rows = {
        int(match.group(1)): match.group(0)
        for match in re.finditer(r"<tr>.*?/listing/(\d+)/change/.*?</tr>", html, re.S)
    }
    synced, unsynced = rows[listing.pk], rows[never.pk]
    assert '<td class="field-places_total">60</td>' in synced
    assert '<td class="field-places_sold">4</td>' in synced
    assert re.search(r'class="field-synced_age">[^<]*minutes ago<', synced)
    assert re.search(r'class="field-synced_age">—<', unsynced)
    assert '<td class="field-places_sold">0</td>' in unsynced


def test_an_oversold_alert_is_listed_and_can_be_marked_handled(client, connection):
    user = _member(client, connection.organiser, Membership.Role.MANAGER)
    alert = OversoldAlertFactory(
        session__event__organiser=connection.organiser,
        capacity=10,
        sold_here=8,
        held_here=1,
        sold_external=4,
    )

    html = client.get(_url(OversoldAlert, "changelist")).content.decode()

    assert '<td class="field-capacity">10</td>' in html
    assert '<td class="field-sold_here">8</td>' in html
    assert '<td class="field-held_here">1</td>' in html
    assert '<td class="field-sold_external">4</td>' in html
    assert "<strong>3</strong>" in html  # over capacity by 8 + 1 + 4 - 10

    response = _action(client, OversoldAlert, "resolve", alert.pk)

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    entry = AuditEntry.objects.get(action="integrations.session.oversold_handled")
    assert entry.object_id == str(alert.session_id)
    assert entry.organiser_id == connection.organiser_id
    assert entry.actor_label == user.get_username()
    assert entry.data == {"oversold_by": 3}

    resolved_at = alert.resolved_at
    _action(client, OversoldAlert, "resolve", alert.pk)  # already handled
    alert.refresh_from_db()
    assert alert.resolved_at == resolved_at
    assert (
        AuditEntry.objects.filter(
            action="integrations.session.oversold_handled"
        ).count()
        == 1
    )


# -- tenancy ---------------------------------------------------------------------------


@pytest.fixture
def a_rows(connection):
    listing = ListingFactory(
        connection=connection, session__event__organiser=connection.organiser
    )
    eventbrite = ConnectionFactory(
        organiser=connection.organiser, platform=Platform.EVENTBRITE
    )
    return {
        Connection: connection,
        Listing: listing,
        SyncRun: SyncRunFactory(connection=connection),
        OversoldAlert: OversoldAlertFactory(session=listing.session),
        ExternalOrder: ExternalOrderFactory(listing=listing),
        PlatformWebhook: PlatformWebhookFactory(connection=eventbrite),
    }


def test_a_manager_of_another_organiser_sees_none_of_it(client, organiser, a_rows):
    b = OrganiserFactory(name="Bravo Shows")
    b_connection = ConnectionFactory(organiser=b)
    _member(client, b, Membership.Role.MANAGER)

    for model, row in a_rows.items():
        changelist = client.get(_url(model, "changelist"))
        assert changelist.status_code == 200, model
        listed = set(changelist.context["cl"].queryset.values_list("pk", flat=True))
        assert row.pk not in listed, model
        html = changelist.content.decode()
        assert _url(model, "change", row.pk) not in html, model
        assert organiser.name not in html, model

        change = client.get(_url(model, "change", row.pk))
        assert change.status_code in (302, 403, 404), model
        if change.status_code == 302:
            assert change.url == reverse("admin:index")
        assert organiser.name not in change.content.decode()

    listed = client.get(_url(Connection, "changelist")).context["cl"].queryset
    assert list(listed) == [b_connection]

    # Actions on A's rows find nothing to act on.
    connection, alert = a_rows[Connection], a_rows[OversoldAlert]
    _action(client, Connection, "sync_now", connection.pk)
    _action(client, Listing, "sync_now", a_rows[Listing].pk)
    _action(client, OversoldAlert, "resolve", alert.pk)
    client.post(
        _url(Connection, "change", connection.pk), _form(organiser=b.pk, token=TOKEN)
    )

    assert SyncRun.objects.count() == 1  # only the factory's
    assert not AuditEntry.objects.filter(action="integrations.sync_requested")
    alert.refresh_from_db()
    assert alert.resolved_at is None
    connection.refresh_from_db()
    assert connection.organiser_id == organiser.pk
    assert connection.credentials != TOKEN
