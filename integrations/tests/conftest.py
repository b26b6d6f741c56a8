import pytest

from integrations.models import Platform
from ticketing.lib.http import breaker_for, sessions_reset


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
