import pytest

from integrations.models import Platform
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from ticketing.lib.http import breaker_for, sessions_reset
from ticketing.tests.inbound import rejections_uncounted_fixture  # noqa: F401


@pytest.fixture(autouse=True)
def _rejections_uncounted(rejections_uncounted):
    """Tests that count stored rejected deliveries must not meet the per-address cap
    filled by the tests before them."""


@pytest.fixture(autouse=True)
def _fast_platform_calls(settings):
    """Tests inject timeouts and 5xx: short timeouts and backoff keep them quick.
    Breakers are shared through the cache, so each test starts with closed ones."""
    settings.INTEGRATIONS_HTTP_TIMEOUT = (1.0, 0.5)
    settings.INTEGRATIONS_HTTP_BACKOFF = 0.01
    settings.INTEGRATIONS_HTTP_RETRIES = 2
    settings.INTEGRATIONS_HTTP_RETRY_AFTER_MAX = 2
    sessions_reset()
    for platform in Platform.values:
        breaker_for(platform).reset()
    yield
    sessions_reset()
    for platform in Platform.values:
        breaker_for(platform).reset()


@pytest.fixture
def billetweb_connection(billetweb_fake):  # noqa: F811
    """A connection holding the fake Billetweb's credentials."""
    from integrations.tests.factories import ConnectionFactory

    connection = ConnectionFactory(account_id=billetweb_fake.user)
    connection.set_credentials(billetweb_fake.key)
    connection.save()
    return connection
