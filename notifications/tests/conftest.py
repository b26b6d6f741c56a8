"""Fixtures for notifications tests: selling's session fixtures."""

from bookings.tests.conftest import session, ticket_type  # noqa: F401
