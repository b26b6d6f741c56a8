"""Fixtures for partner API tests: selling's session fixtures, and the platform
fixtures of the sync endpoint's tests."""

from bookings.tests.conftest import session, ticket_type  # noqa: F401
from integrations.tests.conftest import (  # noqa: F401
    _fast_platform_calls,
    billetweb_connection,
    billetweb_fake,
)
