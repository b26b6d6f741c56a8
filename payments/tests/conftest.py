"""Fixtures for payments tests, one section per provider."""

# --- Stripe -----------------------------------------------------------------------
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401
