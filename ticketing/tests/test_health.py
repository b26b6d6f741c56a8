"""`/healthz` and `/healthz/full` against the real services: PostgreSQL, Redis as cache
and Redis as broker.

Failures are made real rather than mocked: the database, the cache or the broker is
pointed at a local port where nothing listens, so the driver itself raises.
"""

import datetime as dt
import logging
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from ticketing import health
from ticketing.tasks import worker_heartbeat_task
from ticketing.tests.broker import Broker, dead_port

TOKEN = "monitor-token-for-tests"


# -- /healthz: database and cache only ------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_database_and_cache_ok(client):
    assert settings.REDIS_URL, "the tests run against Redis: set REDIS_URL"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.fixture
def unreachable_database(django_db_blocker):
    """The default connection, pointed at a port where no PostgreSQL listens.

    No test transaction is open here (the test is not marked django_db), so the
    connection can be closed and reopened; it is restored afterwards.
    """
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(
            HOST="127.0.0.1",
            PORT=str(dead_port()),
            OPTIONS={**saved.get("OPTIONS", {}), "connect_timeout": 2},
        )
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def test_healthz_is_503_when_the_database_is_unreachable(
    client, unreachable_database, caplog
):
    with caplog.at_level(logging.ERROR, logger="ticketing.health"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "error", "cache": "ok"}
    assert "Health check database failed" in caplog.text
    assert "OperationalError" in caplog.text


@pytest.fixture
def unreachable_cache(settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{dead_port()}/0",
        }
    }


@pytest.mark.django_db
def test_healthz_is_503_when_the_cache_is_unreachable(
    client, unreachable_cache, caplog
):
    with caplog.at_level(logging.ERROR, logger="ticketing.health"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "cache": "error"}
    assert "Health check cache failed" in caplog.text


@pytest.mark.django_db
def test_healthz_does_not_depend_on_the_broker(client):
    """A load balancer must not take every web process out because the broker is
    down: the web still sells, and stored webhooks wait for the sweep."""
    broker = Broker()
    broker.down()
    try:
        response = client.get("/healthz")
    finally:
        broker.up()

    assert response.status_code == 200


@pytest.mark.django_db
def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405


# -- /healthz/full: behind METRICS_TOKEN ----------------------------------------------


def _full(client, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/healthz/full", headers=headers)


@pytest.fixture
def monitored(settings):
    """A token set, a worker that has just beaten, and nothing else registered
    failing: the baseline every test below breaks one piece of."""
    settings.METRICS_TOKEN = TOKEN
    worker_heartbeat_task.apply()
    yield
    cache.delete(health.HEARTBEAT_KEY)


@pytest.mark.django_db
def test_full_is_not_found_while_metrics_token_is_unset(client, settings):
    settings.METRICS_TOKEN = ""
    assert _full(client).status_code == 404
    assert _full(client, token="").status_code == 404


@pytest.mark.django_db
def test_full_needs_the_bearer_token(client, monitored):
    for token in (None, "", "wrong", TOKEN + "x"):
        response = _full(client, token=token)
        assert response.status_code == 401, token
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "components" not in response.json()
    response = client.get("/healthz/full", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_full_reports_every_component_ok(client, monitored):
    response = _full(client)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    components = body["components"]
    assert {
        name: component["status"] for name, component in components.items()
    } == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "worker": "ok",
        "backlog:payment_webhooks": "ok",
        "backlog:platform_webhooks": "ok",
        "backlog:partner_webhook_deliveries": "ok",
        "connections": "ok",
    }
    assert components["worker"]["heartbeat_age_seconds"] <= 5
    assert components["backlog:payment_webhooks"]["oldest_due_seconds"] == 0
    assert components["connections"]["connections"] == []


@pytest.mark.django_db
def test_full_is_503_with_a_broker_that_cannot_be_reached(client, monitored, caplog):
    broker = Broker()
    broker.down()
    started = time.monotonic()
    try:
        with caplog.at_level(logging.ERROR, logger="ticketing.health"):
            response = _full(client)
    finally:
        broker.up()

    assert time.monotonic() - started < health.BROKER_TIMEOUT_SECONDS + 3
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["components"]["broker"] == {
        "status": "error",
        "error": "OperationalError",
    }
    assert body["components"]["database"]["status"] == "ok"
    assert "Health check broker failed" in caplog.text


@pytest.mark.django_db
def test_full_is_503_without_a_recent_worker_heartbeat(client, monitored):
    cache.set(health.HEARTBEAT_KEY, time.time() - 150, timeout=None)

    response = _full(client)

    assert response.status_code == 503
    worker = response.json()["components"]["worker"]
    assert worker["status"] == "error"
    assert 150 <= worker["heartbeat_age_seconds"] < 160

    cache.delete(health.HEARTBEAT_KEY)
    assert _full(client).json()["components"]["worker"] == {
        "status": "error",
        "error": "no worker heartbeat yet",
    }

    worker_heartbeat_task.apply()  # what beat has a worker run every minute
    assert _full(client).status_code == 200


@pytest.mark.django_db
def test_full_is_503_while_a_stored_webhook_waits_and_200_once_swept(
    client, monitored
):
    """The backlog that did not move while "/healthz said ok" (issue 16): a verified
    delivery stored six minutes ago, never processed."""
    from payments.models import WebhookDelivery
    from payments.services import webhooks_retry_due

    WebhookDelivery.objects.create(
        provider="stripe",
        event_id="evt_waiting",
        event_type="payment_intent.succeeded",
        raw_body="{}",
        signature_valid=True,
        event={
            "event_id": "evt_waiting",
            "kind": "ignored",
            "provider_type": "payment_intent.succeeded",
            "provider_reference": "pi_not_ours",
        },
    )
    WebhookDelivery.objects.update(received_at=timezone.now() - dt.timedelta(minutes=6))

    response = _full(client)

    assert response.status_code == 503
    backlog = response.json()["components"]["backlog:payment_webhooks"]
    assert backlog["status"] == "error"
    assert 360 <= backlog["oldest_due_seconds"] < 370

    assert webhooks_retry_due() == 1
    assert _full(client).status_code == 200


@pytest.mark.django_db
def test_full_reports_each_connections_last_sync(client, monitored):
    from integrations.tests.factories import ConnectionFactory

    now = timezone.now()
    fresh = ConnectionFactory(
        platform="billetweb",
        sync_interval_minutes=15,
        last_sync_at=now,
        last_success_at=now - dt.timedelta(minutes=20),
    )
    ConnectionFactory(
        platform="eventbrite", is_enabled=False, last_success_at=None
    )  # disabled: not reported
    stale = ConnectionFactory(
        platform="humanitix",
        sync_interval_minutes=15,
        created_at=now - dt.timedelta(days=2),
        last_sync_at=now,
        last_success_at=now - dt.timedelta(minutes=50),
    )

    response = _full(client)

    assert response.status_code == 503
    component = response.json()["components"]["connections"]
    assert component["status"] == "error"
    rows = {row["id"]: row for row in component["connections"]}
    assert set(rows) == {fresh.pk, stale.pk}
    assert rows[fresh.pk]["status"] == "ok"
    assert rows[stale.pk]["status"] == "error"
    assert rows[stale.pk]["error"] == "no successful sync lately"
    assert rows[stale.pk]["last_success_at"] == stale.last_success_at.isoformat()
