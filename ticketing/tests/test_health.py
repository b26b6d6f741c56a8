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
from ticketing.tests.health import TOKEN, full, monitored_fixture  # noqa: F401

BACKLOGS = (
    "outbox",
    "partner_webhook_deliveries",
    "payment_webhooks",
    "platform_webhooks",
    "xero_webhooks",
)

# -- /healthz: database and cache decide; broker and backlogs are reported ------------


@pytest.mark.django_db
def test_healthz_reports_database_and_cache_ok(client):
    assert settings.REDIS_URL, "the tests run against Redis: set REDIS_URL"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "backlogs": {name: "ok" for name in BACKLOGS},
    }


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
    body = response.json()
    assert (body["status"], body["database"], body["cache"]) == ("down", "error", "ok")
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
    body = response.json()
    assert (body["status"], body["database"], body["cache"]) == ("down", "ok", "error")
    assert "Health check cache failed" in caplog.text


@pytest.mark.django_db
def test_healthz_reports_a_broker_down_but_stays_200(client):
    """A load balancer must not take every web process out because the broker is
    down: the web still sells, and stored webhooks wait for the sweep. The body
    says the broker cannot be reached."""
    broker = Broker()
    broker.down()
    try:
        response = client.get("/healthz")
    finally:
        broker.up()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert (body["database"], body["cache"], body["broker"]) == ("ok", "ok", "error")

    # Cached a few seconds: a load balancer's polling does not reconnect each time.
    assert client.get("/healthz").json()["broker"] == "error"
    health.summary_forget()
    body = client.get("/healthz").json()
    assert (body["status"], body["broker"]) == ("ok", "ok")


@pytest.mark.django_db
def test_healthz_reports_a_backlog_that_is_not_moving(client):
    from django.db import transaction

    from ticketing import outbox
    from ticketing.models import OutboxMessage

    with transaction.atomic():
        pk = outbox.enqueue("test.stuck")
    OutboxMessage.objects.filter(pk=pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=6)
    )

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"] == "ok"
    assert body["backlogs"]["outbox"] == "error"
    assert body["backlogs"]["payment_webhooks"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405


# -- /healthz/full: behind METRICS_TOKEN ----------------------------------------------


@pytest.mark.django_db
def test_full_is_not_found_while_metrics_token_is_unset(client, settings):
    settings.METRICS_TOKEN = ""
    assert full(client).status_code == 404
    assert full(client, token="").status_code == 404


@pytest.mark.django_db
def test_full_needs_the_bearer_token(client, monitored):
    for token in (None, "", "wrong", TOKEN + "x"):
        response = full(client, token=token)
        assert response.status_code == 401, token
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "components" not in response.json()
    response = client.get("/healthz/full", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_full_reports_every_component_ok(client, monitored):
    response = full(client)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    components = body["components"]
    assert {name: component["status"] for name, component in components.items()} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "worker": "ok",
        "backlog:payment_webhooks": "ok",
        "backlog:platform_webhooks": "ok",
        "backlog:partner_webhook_deliveries": "ok",
        "backlog:outbox": "ok",
        "backlog:xero_webhooks": "ok",
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
            response = full(client)
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

    response = full(client)

    assert response.status_code == 503
    worker = response.json()["components"]["worker"]
    assert worker["status"] == "error"
    assert 150 <= worker["heartbeat_age_seconds"] < 160

    cache.delete(health.HEARTBEAT_KEY)
    assert full(client).json()["components"]["worker"] == {
        "status": "error",
        "error": "no worker heartbeat yet",
    }

    worker_heartbeat_task.apply()  # what beat has a worker run every minute
    assert full(client).status_code == 200


@pytest.mark.django_db
def test_full_fails_on_an_outbox_row_due_for_over_five_minutes(client, monitored):
    from django.db import transaction

    from ticketing import outbox
    from ticketing.models import OutboxMessage

    with transaction.atomic():
        pk = outbox.enqueue("test.stuck")
    OutboxMessage.objects.filter(pk=pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=6)
    )
    response = full(client)
    assert response.status_code == 503
    stuck = response.json()["components"]["backlog:outbox"]
    assert stuck["status"] == "error"
    assert stuck["oldest_due_seconds"] >= 360
