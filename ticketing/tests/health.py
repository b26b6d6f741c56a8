"""Test support for `/healthz/full`: the token, a request with it, and a baseline
where every component is fine (import `monitored_fixture` for `monitored`)."""

import pytest
from django.core.cache import cache

from ticketing import health
from ticketing.tasks import worker_heartbeat_task

TOKEN = "monitor-token-for-tests"


def full(client, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/healthz/full", headers=headers)


@pytest.fixture(name="monitored")
def monitored_fixture(settings):
    """A token set and a worker that has just beaten: the baseline every health test
    breaks one piece of."""
    settings.METRICS_TOKEN = TOKEN
    worker_heartbeat_task.apply()
    yield
    cache.delete(health.HEARTBEAT_KEY)
