"""With Redis down the shared limit falls back to this process's share, and pushes
still go through."""

import pytest
from django.db import transaction

from events.tests.factories import EventFactory, TicketTypeFactory
from ticketing.lib import ratelimit
from ticketing.tests.redis_server import redis_server_fixture  # noqa: F401

from .conftest import run_pushes


@pytest.mark.django_db
def test_pushes_go_on_with_redis_down(account, platform, redis_server, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": redis_server.url(0),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    settings.STRIPE_CATALOG_RATE_LIMIT = "40/s"
    settings.PROVIDER_QUOTA_PROCESSES = 4
    organiser, acct = account
    redis_server.stop()
    ratelimit._local_counts.clear()
    with transaction.atomic():
        event = EventFactory(organiser=organiser)
        TicketTypeFactory(event=event)

    run_pushes()

    assert len(platform.products_on(acct)) == 1
    assert len(platform.prices_on(acct)) == 1
    counted_here = {
        calls
        for (key, _window), calls in ratelimit._local_counts.items()
        if key == "stripe:catalog"
    }
    assert sum(counted_here) == 2  # both calls counted in this process's share
