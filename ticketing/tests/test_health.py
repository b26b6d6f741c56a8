"""`/healthz` against the real services: PostgreSQL, Redis as cache and Redis as broker.

Failures are made real rather than mocked: the database or the cache is pointed at a
local port where nothing listens, so the driver itself raises.
"""

import logging
import socket

import pytest
from django.conf import settings
from django.db import connection


def _dead_port() -> int:
    """A local TCP port with nothing listening on it (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_healthz_reports_every_service_ok(client):
    assert settings.REDIS_URL, "the tests run against Redis: set REDIS_URL"
    assert not settings.CELERY_TASK_ALWAYS_EAGER  # so the broker is really checked

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
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
            PORT=str(_dead_port()),
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
    assert body["database"] == "error"
    assert body["status"] == "down"
    # The other services still answer and say so.
    assert body["cache"] == "ok"
    assert body["broker"] == "ok"
    assert "Health check database failed" in caplog.text
    assert "OperationalError" in caplog.text


@pytest.mark.django_db
def test_healthz_is_degraded_but_200_when_the_cache_is_unreachable(
    client, settings, caplog
):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{_dead_port()}/0",
        }
    }

    with caplog.at_level(logging.ERROR, logger="ticketing.health"):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "cache": "error",
        "broker": "ok",
    }
    assert "Health check cache failed" in caplog.text


@pytest.mark.django_db
def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405
