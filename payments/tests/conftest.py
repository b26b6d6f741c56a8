"""Fixtures for payments tests: the providers' fakes and selling's session fixtures."""

from bookings.tests.conftest import session, ticket_type  # noqa: F401
from payments.tests.fakes.paystack_server import paystack_fake  # noqa: F401
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401
