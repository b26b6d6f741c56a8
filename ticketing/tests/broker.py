"""A Celery broker that cannot be reached, for tests of what survives an outage.

The suite runs tasks eagerly (see the root conftest). `broker` switches Celery to
what production does, sending tasks to a broker, and points it at a local port where
nothing listens: `.delay()` then raises kombu's OperationalError after Celery's own
publish retries, exactly as with Redis down. `broker.up()` brings tasks back (run in
the test's process again); the fixture restores everything afterwards. Import
`broker_fixture` into a test module to use the `broker` fixture.
"""

from __future__ import annotations

import socket

import pytest


def dead_port() -> int:
    """A local TCP port with nothing listening on it (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    def __init__(self) -> None:
        from ticketing.celery import app

        self.app = app
        self.saved = (app.conf.task_always_eager, app.conf.broker_url)

    def down(self) -> None:
        self.app.conf.task_always_eager = False
        self.app.conf.broker_url = f"redis://127.0.0.1:{dead_port()}/0"
        self._forget_connections()

    def up(self) -> None:
        self.app.conf.task_always_eager, self.app.conf.broker_url = self.saved
        self._forget_connections()

    def _forget_connections(self) -> None:
        # Celery caches its connection and producer pools on first use. (Not closed:
        # kombu keeps producer pools in a registry by URL, and a port can come again.)
        self.app._pool = None
        self.app.amqp._producer_pool = None


@pytest.fixture(name="broker")
def broker_fixture():
    """The broker, down from the start of the test; `broker.up()` restores it."""
    broker = Broker()
    broker.down()
    yield broker
    broker.up()
