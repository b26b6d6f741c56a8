"""Each platform connection's last sync in `/healthz/full`."""

import datetime as dt

import pytest
from django.utils import timezone

from integrations.tests.factories import ConnectionFactory
from integrations.tests.fakes.eventbrite_server import eventbrite_fake  # noqa: F401
from ticketing.tests.health import full, monitored_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_full_reports_each_connections_last_sync(client, monitored):
    now = timezone.now()
    fresh = ConnectionFactory(
        platform="billetweb",
        sync_interval_minutes=15,
        last_sync_at=now,
        last_success_at=now - dt.timedelta(minutes=20),
    )
    ConnectionFactory(platform="eventbrite", is_enabled=False)  # not reported
    stale = ConnectionFactory(
        platform="humanitix",
        sync_interval_minutes=15,
        created_at=now - dt.timedelta(days=2),
        last_sync_at=now,
        last_success_at=now - dt.timedelta(minutes=50),
    )

    response = full(client)

    assert response.status_code == 503
    component = response.json()["components"]["connections"]
    assert component["status"] == "error"
    rows = {row["id"]: row for row in component["connections"]}
    assert set(rows) == {fresh.pk, stale.pk}
    assert rows[fresh.pk]["status"] == "ok"
    assert rows[stale.pk]["status"] == "error"
    assert rows[stale.pk]["error"] == "no successful sync lately"
    assert rows[stale.pk]["last_success_at"] == stale.last_success_at.isoformat()


def test_refused_credentials_and_a_first_sync_still_due(client, monitored):
    now = timezone.now()
    refused = ConnectionFactory(platform="billetweb", auth_failed_at=now)
    new = ConnectionFactory(platform="humanitix", created_at=now, last_success_at=None)

    rows = {
        row["id"]: row
        for row in full(client).json()["components"]["connections"]["connections"]
    }

    assert rows[refused.pk]["error"] == "credentials refused"
    assert rows[new.pk] == {
        "id": new.pk,
        "platform": "humanitix",
        "organiser_id": new.organiser_id,
        "last_sync_at": None,
        "last_success_at": None,
        "status": "ok",
    }


def test_a_platform_webhook_waiting_fails_the_backlog_until_swept(
    client,
    monitored,
    eventbrite_fake,  # noqa: F811
):
    from integrations.models import PlatformWebhook
    from integrations.services.webhooks import platform_webhooks_retry_due

    connection = ConnectionFactory(platform="eventbrite", is_enabled=True)
    PlatformWebhook.objects.create(
        connection=connection,
        platform="eventbrite",
        action="order.placed",
        resource_url=eventbrite_fake.url + "/orders/1/",
        received_at=timezone.now() - dt.timedelta(minutes=6),
    )

    backlog = full(client).json()["components"]["backlog:platform_webhooks"]

    assert backlog["status"] == "error"
    assert 360 <= backlog["oldest_due_seconds"] < 370
    platform_webhooks_retry_due()
    assert full(client).json()["components"]["backlog:platform_webhooks"] == {
        "status": "ok",
        "oldest_due_seconds": 0,
    }
