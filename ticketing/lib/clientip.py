"""The client address every limit keys off (login lockouts, API auth failures).

Every limit uses this one rule (`bookings.abuse` re-exports it): REMOTE_ADDR, unless
the request came through one of our own reverse proxies. X-Forwarded-For is written
by the client as much as by proxies, so only the entries our proxies appended can be
trusted:

- `settings.TRUSTED_PROXIES` (addresses or networks, ARCHITECTURE's rule): the header
  counts only when the peer is one of them; walking it from the right, past our own
  proxies, the first address that is not one is the client.
- `settings.TRUSTED_PROXY_COUNT` (older, used when TRUSTED_PROXIES is empty): with N
  proxies the client is the N-th entry from the right, whoever the peer is.

When the header has no usable entry, REMOTE_ADDR is used.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    if proxies:
        return _behind_trusted_proxies(request, remote_addr, proxies)
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


def _behind_trusted_proxies(request, remote_addr: str, proxies) -> str:
    if not _is_proxy(remote_addr, proxies):
        return remote_addr
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    for candidate in reversed(forwarded):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            return remote_addr  # a hop we cannot read: trust nothing beyond it
        if not any(address in network for network in proxies):
            return candidate
    # Every hop is one of ours (a health check from inside): the first one.
    return forwarded[0] if forwarded else remote_addr


def _is_proxy(address: str, proxies) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


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
