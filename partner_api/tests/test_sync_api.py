"""`POST /api/v1/integrations/{platform}/sync/` against the fake Billetweb."""

from __future__ import annotations

import pytest

from events.tests.factories import OrganiserFactory
from integrations.models import SyncRun
from integrations.services.locks import connection_sync_lock
from integrations.tests.factories import ListingFactory
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from partner_api.tests.api_fixtures import api_key, post
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/integrations/billetweb/sync/"


@pytest.fixture
def fake(billetweb_fake):  # noqa: F811
    return billetweb_fake


@pytest.fixture
def connection(billetweb_connection):
    return billetweb_connection


def _listing(fake, connection, sold):
    event_id = fake.add_event()
    date_id = fake.add_date(event_id, quota=40)
    fake.sell(event_id, date_id, sold)
    return ListingFactory(
        connection=connection,
        external_event_id=event_id,
        external_date_id=date_id,
    )


def test_sync_runs_and_reports_partial_success(client, fake, connection):
    good = _listing(fake, connection, sold=3)
    ListingFactory(
        connection=connection,
        external_event_id=good.external_event_id,
        external_date_id="999999",
    )  # a date Billetweb does not have
    plain = api_key(connection.organiser, scopes=("sync",))

    response = post(client, URL, {}, plain)

    assert response.status_code == 200
    body = response.json()
    assert (body["synced"], body["failed"]) == (1, 1)
    assert body["duration_ms"] >= 0
    assert body["errors"][0]["code"] == "ExternalRejected"
    assert "999999" in body["errors"][0]["message"]
    run = SyncRun.objects.get(connection=connection)
    assert (run.trigger, run.status) == ("api", "partial")
    started = AuditEntry.objects.get(
        action="integrations.sync_started", object_id=str(run.pk)
    )
    assert started.actor_label.startswith("api key partner")
    good.refresh_from_db()
    assert good.places_sold == 3


def test_sync_needs_the_sync_scope_and_a_key(client, connection):
    assert post(client, URL, {}).status_code == 401
    read_only = api_key(connection.organiser, scopes=("read", "write"))
    response = post(client, URL, {}, read_only)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not SyncRun.objects.exists()


def test_another_organisers_connection_is_not_found(client, connection):
    stranger = api_key(OrganiserFactory(), scopes=("sync",))
    response = post(client, URL, {}, stranger)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not SyncRun.objects.exists()


def test_unknown_platform_is_not_found(client, connection):
    plain = api_key(connection.organiser, scopes=("sync",))
    response = post(client, "/api/v1/integrations/ticketmaster/sync/", {}, plain)
    assert response.status_code == 404


def test_a_sync_already_running_answers_409(client, connection):
    plain = api_key(connection.organiser, scopes=("sync",))
    with connection_sync_lock(connection.pk):
        response = post(client, URL, {}, plain)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_running"
    assert not SyncRun.objects.exists()


def test_a_disabled_connection_answers_409(client, connection):
    connection.is_enabled = False
    connection.save()
    plain = api_key(connection.organiser, scopes=("sync",))
    response = post(client, URL, {}, plain)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "connection_not_ready"
