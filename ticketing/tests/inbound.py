"""Test support for `ticketing.inbound`."""

import pytest
from django.core.cache import cache

from ticketing.inbound import REJECTION_KEY_PREFIX


@pytest.fixture(name="rejections_uncounted")
def rejections_uncounted_fixture():
    """Forget rejected webhooks counted so far: the per-address cap counts within a
    minute, and the suite sends many rejected deliveries from 127.0.0.1."""
    if hasattr(cache, "delete_pattern"):  # django-redis
        cache.delete_pattern(f"limit:{REJECTION_KEY_PREFIX}:*")
    else:
        cache.clear()
