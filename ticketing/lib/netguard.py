"""Refusing to send requests to our own network on a customer's say-so (SSRF).

A partner's webhook URL is chosen by an organiser; without a check it could point at
the cache, the database or a cloud metadata address inside our network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def literal_internal_host(url: str) -> bool:
    """True when the URL's host is an IP address literal that is not public (or
    "localhost"). Needs no DNS, so it suits form validation."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _is_internal(host)
    except ValueError:
        return False


def resolves_internal(url: str) -> bool:
    """True when the URL's host is, or resolves to, any address that is not public.
    A name that does not resolve is not judged here: the request itself will fail.
    (A name may resolve differently a moment later; this narrows the hole, and a
    network-level egress rule closes it.)"""
    if literal_internal_host(url):
        return True
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    return any(_is_internal(info[4][0]) for info in infos)
