"""The admin lockout and the API's failed-authentication limit (ticketing.lib.clientip,
below bookings) see the same client as the checkout limits (bookings.abuse): one rule
for every limit. If this fails, the two helpers have drifted: make one call the other.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from bookings.abuse import client_ip as checkout_client_ip
from ticketing.lib.clientip import client_ip

CASES = [
    (0, "192.0.2.10", None),
    (0, "192.0.2.10", "6.6.6.6"),
    (1, "127.0.0.1", "203.0.113.7"),
    (1, "127.0.0.1", "6.6.6.6, 203.0.113.7"),
    (2, "127.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2"),
    (1, "127.0.0.1", "6.6.6.6,2001:db8::7"),
    (2, "127.0.0.1", "203.0.113.7"),
    (1, "127.0.0.1", ""),
    (1, "127.0.0.1", "6.6.6.6, not-an-ip"),
    (1, "127.0.0.1", None),
]


@pytest.mark.parametrize(("count", "remote_addr", "forwarded"), CASES)
def test_every_limit_sees_the_same_client(settings, count, remote_addr, forwarded):
    settings.TRUSTED_PROXY_COUNT = count
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().post("/admin/login/", **extra)

    assert client_ip(request) == checkout_client_ip(request)
