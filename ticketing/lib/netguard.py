"""Refusing to send requests to our own network on a customer's say-so (SSRF).

A partner's webhook URL is chosen by an organiser; without a check it could point at
the cache, the database or a cloud metadata address inside our network, directly or
through a name that resolves there, or through an IPv6 form that carries an internal
IPv4 address (IPv4-mapped `::ffff:127.0.0.1`, IPv4-compatible `::127.0.0.1`, NAT64
`64:ff9b::7f00:1`, 6to4 `2002:7f00:1::`, Teredo). `ipaddress.is_global` alone calls
several of those global.

Two layers:
- `endpoint_problem` resolves a URL's host and judges every address (registration,
  and again before each delivery, for a clear error);
- `guarded_session` connects only to an address it resolved and judged itself,
  sending the original Host header and TLS SNI, and never follows redirects
  (requests-hardened does the pinning; `_PinnedAdapter` adds our stricter judgement
  of the pinned address). A name that resolves elsewhere between the two layers
  (DNS rebinding) is judged again where it matters: on the address connected to.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

logger = logging.getLogger(__name__)

# IPv6 ranges that carry or translate to an IPv4 address. requests-hardened refuses
# NAT64 and 6to4 at connection time whatever the embedded address, so they are
# refused here as well: registration must not accept what delivery will refuse.
_REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "64:ff9b::/96",  # NAT64 (RFC 6052)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215); public in Python < 3.12.4
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "192.88.99.0/24",  # 6to4 relay anycast
        "100.64.0.0/10",  # carrier-grade NAT, may reach internal workloads
        "192.0.0.0/24",  # IETF protocol assignments
    )
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class InternalAddress(requests.RequestException):
    """The pinned address of a connection is not public."""


def address_refused(address: str) -> bool:
    """True unless the address is a public unicast address, including every IPv4
    address embedded in it (IPv4-mapped and -compatible forms are decoded)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_refused(str(ip.ipv4_mapped))
        if ip in _IPV4_COMPATIBLE:
            # ::a.b.c.d (deprecated) and ::, ::1 themselves.
            return int(ip) <= 1 or address_refused(
                str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            )
    if any(
        ip in network for network in _REFUSED_NETWORKS if ip.version == network.version
    ):
        return True
    return not ip.is_global or ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def endpoint_problem(url: str, *, allow_loopback: bool = False) -> str | None:
    """Why `url` must not be called, or None: its host is missing, does not resolve,
    or is (or resolves to) an address that is not public. With `allow_loopback`
    (tests and local development only) loopback addresses pass."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return "has no host"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_loopback else "is not a public address"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError, ValueError):
        return "does not resolve"
    for address in addresses:
        if (
            allow_loopback
            and ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
        ):
            continue
        if address_refused(address):
            return "is not a public address"
    return None


class _PinnedAdapter(IPFilterAdapter):
    """requests-hardened's adapter resolves the host, refuses private addresses and
    connects to the address it resolved (Host header and SNI keep the name); this
    judges that same address by `address_refused` too."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pinned = host_params["host"].strip("[]")
        loopback_ok = self._allow_loopback and ipaddress.ip_address(pinned).is_loopback
        if not loopback_ok and address_refused(pinned):
            logger.warning("Refused a connection to non-public address %s", pinned)
            raise InternalAddress(f"refused non-public address {pinned}")
        return host_params, pool_kwargs


def guarded_session(*, timeout, allow_loopback: bool = False) -> requests.Session:
    """A session for URLs chosen by customers: pinned, judged addresses; no
    redirects; `timeout` by default. Close it after use."""
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=allow_loopback,
            never_redirect=True,
            default_timeout=timeout,
        )
    )
    for scheme in ("http://", "https://"):
        session.mount(
            scheme,
            _PinnedAdapter(
                is_https_proto=scheme == "https://", allow_loopback=allow_loopback
            ),
        )
    return session


REFUSED_ERRORS = (InternalAddress, InvalidIPAddress)
