"""Fixtures for payments tests: the providers' fakes and selling's session fixtures."""

import pytest

from bookings.tests.conftest import session, ticket_type  # noqa: F401
from payments.tests.fakes.paystack_server import paystack_fake  # noqa: F401
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401
from ticketing.lib.http import breaker_for
from ticketing.tests.inbound import rejections_uncounted_fixture  # noqa: F401


@pytest.fixture(autouse=True)
def _rejections_uncounted(rejections_uncounted):
    """Tests that count stored rejected deliveries must not meet the per-address cap
    filled by the tests before them."""


@pytest.fixture(autouse=True)
def _paystack_breaker_closed():
    """Paystack calls share a circuit breaker through the cache: tests that inject
    outages must not leave it open for the next test."""
    breaker_for("paystack").reset()
    yield
    breaker_for("paystack").reset()
