"""The client address every limit keys off (login lockouts, API auth failures).

Every limit uses this one rule (`bookings.abuse` re-exports it): REMOTE_ADDR,
unless `settings.TRUSTED_PROXY_COUNT` says how many reverse proxies we run in front
of Django. X-Forwarded-For is written by the client as much as by proxies, so only
its right-most entries, the ones our own proxies appended, can be trusted: with N
proxies the client is the N-th entry from the right. When the header has fewer
entries or that entry is not an IP address, REMOTE_ADDR is used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if not trusted:
        return remote_addr
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < trusted:
        return remote_addr
    candidate = forwarded[-trusted]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote_addr
    return candidate


def client_bucket(request) -> str:
    """`client_ip`, with an IPv6 client counted as its whole /64 (one client usually
    owns one), for limits that count per client."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)
