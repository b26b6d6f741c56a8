"""Checkout abuse limits: holds per IP and per email per hour, seats held per IP and
per email per hour, unpaid holds per email, and a honeypot field.

Checkout calls `checkout_guard` before `bookings.services.booking_create`. Every
attempt that reaches the guard is counted, whether or not it then becomes a hold
(sold out, bad input, already refused here): counting only successful holds would let
a client probe without limit, and counting before the outcome needs no second call.

Seats are counted apart from attempts, and only for holds actually made
(`SeatReservation`): a hold that expires, is cancelled or is replaced by a new one
keeps its seats in the hour's count, so renewing a hold every 15 minutes uses the
budget up. These are cheap pre-checks across sessions; the share of one session a
buyer may hold is decided exactly under its lock (`services.hold_limits`).

Counters live in the Django cache (Redis in production): one key per identity and
fixed window of `window_seconds`, created with `cache.add` and bumped with
`cache.incr`, which is a single atomic INCR on Redis, so concurrent requests never
both take the last slot. Keys hold a keyed hash of the IP or email, never the value.

With Redis down these limits fail closed, not open: each guards a write from a client
nobody authenticated (a hold takes seats from everyone else, a lookup sends an email),
so a flood must stay bounded. Each process then counts alone and allows its share,
limit / PROVIDER_QUOTA_PROCESSES (at least one), as the provider quotas of
`ticketing.lib.ratelimit` do; buyers within their share still book, with a warning
and `ticketing_degraded_total`. Reads (pages, availability) are not limited here.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from ticketing.lib.clientip import client_ip  # noqa: F401 - re-exported
from ticketing.lib.degrade import cache_unavailable
from ticketing.lib.ratelimit import (
    local_window_count,
    local_window_release,
    window_count,
)

from .exceptions import BookingError
from .models import Booking

logger = logging.getLogger(__name__)

HONEYPOT_FIELD = "website"
HOUR = 3600


class TooManyHolds(BookingError):
    """Too many checkout attempts from one IP or email in the current window."""

    code = "rate_limited"
    default_message = _(
        "Too many bookings from you in a short time. Please try again later."
    )

    def __init__(self, *, retry_after_seconds: int, message: str | None = None):
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class TooManySeats(TooManyHolds):
    """Too many seats held from one IP or email in the current window."""

    default_message = _(
        "You have held too many seats in a short time. Please pay for the seats you "
        "hold, or try again later."
    )


class TooManyPendingHolds(BookingError):
    code = "too_many_pending"
    default_message = _(
        "You already have unpaid bookings waiting. Pay or cancel them first."
    )


def _now() -> float:
    return time.time()


def rate_limit_hit(key: str, limit: int, window_seconds: int) -> int | None:
    """Count one hit against `key` in the current fixed window of `window_seconds`.

    Returns None when the hit is within `limit`, otherwise the seconds (at least 1)
    until the window resets. Refused hits are counted too but do not extend the
    window. Atomic across processes on Redis; `key` must not contain personal data.
    """
    _window_key, count, remaining = _count(key, window_seconds, 1, limit)
    return None if count <= limit else remaining


# Marks a window counted in this process because the cache was down.
_LOCAL = "local:"


def _count(
    key: str, window_seconds: int, amount: int, limit: int
) -> tuple[str, int, int]:
    """Add `amount` to `key`'s current window: (window key, new count, seconds left).
    With the cache unreachable this process counts alone against its share of
    `limit` (module docstring): the count returned exceeds `limit` once it is spent."""
    moment = _now()
    try:
        counted = window_count(key, window_seconds, amount, now=moment)
    except Exception:  # noqa: BLE001 - Redis down: a per-process share instead
        cache_unavailable("checkout limit")
        window = int(moment // window_seconds)
        remaining = max(1, math.ceil((window + 1) * window_seconds - moment))
        count = local_window_count(key, window, amount, limit)
        return f"{_LOCAL}{key}:{window}", count, remaining
    return counted.key, counted.count, counted.remaining


class SeatReservation:
    """Seats counted against an IP's and an email's hourly budgets for one checkout;
    `release()` gives them back when no new hold came of it."""

    def __init__(self, window_keys: list[tuple[str, int]]) -> None:
        self._window_keys = window_keys

    def release(self) -> None:
        for window_key, amount in self._window_keys:
            if window_key.startswith(_LOCAL):
                key, _, window = window_key.removeprefix(_LOCAL).rpartition(":")
                local_window_release(key, int(window), amount)
                continue
            try:
                cache.decr(window_key, amount)
            except ValueError:  # the window ended meanwhile: nothing left to give back
                pass
            except Exception:  # noqa: BLE001 - Redis down: the window is lost anyway
                cache_unavailable("checkout limit release")
        self._window_keys = []


def seats_reserve(*, ip: str, email: str, seats: int) -> SeatReservation:
    """Count `seats` against the hourly seat budgets of `ip` (CHECKOUT_SEATS_PER_IP_
    PER_HOUR) and `email` (CHECKOUT_SEATS_PER_EMAIL_PER_HOUR), or raise TooManySeats
    and count nothing. Release the reservation when the checkout made no new hold."""
    budgets = (
        (_ip_key(ip), settings.CHECKOUT_SEATS_PER_IP_PER_HOUR),
        (_email_key(email), settings.CHECKOUT_SEATS_PER_EMAIL_PER_HOUR),
    )
    taken: list[tuple[str, int]] = []
    retry_after = 0
    for key, limit in budgets:
        window_key, count, remaining = _count(f"{key}:seats", HOUR, seats, limit)
        taken.append((window_key, seats))
        if count > limit:
            retry_after = max(retry_after, remaining)
    reservation = SeatReservation(taken)
    if retry_after:
        reservation.release()
        logger.warning("Checkout refused: too many seats held in the hour")
        raise TooManySeats(retry_after_seconds=retry_after)
    return reservation


def _digest(kind: str, value: str) -> str:
    # Keyed, not a bare sha256: the IPv4 space and known emails are small enough to
    # reverse a plain hash by enumeration.
    mac = salted_hmac(f"bookings.abuse.{kind}", value, algorithm="sha256")
    return mac.hexdigest()[:16]


def _ip_bucket(ip: str) -> str:
    """One IPv6 client usually owns a whole /64, so it counts as one address."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def _ip_key(ip: str) -> str:
    return f"checkout:ip:{client_key(ip)}"


def _email_key(email: str) -> str:
    return f"checkout:email:{email_digest(email)}"


def email_digest(email: str) -> str:
    """A keyed hash of an email (any case) to count it by, never the email itself."""
    return _digest("email", email.strip().lower())


def client_key(ip: str) -> str:
    """What a booking stores of its checkout's address: a keyed hash of its bucket
    (an IPv6 /64 counts as one address), to count the seats one address holds."""
    return _digest("ip", _ip_bucket(ip))


def checkout_guard(*, ip: str, email: str) -> None:
    """Refuse a new hold from `ip` for `email`, or return None to let it through.

    Counts this attempt against both hourly limits first (every attempt, see the
    module docstring), then raises TooManyHolds (with `retry_after_seconds`) when
    either limit is exceeded, or TooManyPendingHolds when the email (any case) already
    has CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL unexpired pending bookings.
    """
    ip_key = _ip_key(ip)
    email_key = _email_key(email)
    ip_retry = rate_limit_hit(ip_key, settings.CHECKOUT_HOLDS_PER_IP_PER_HOUR, HOUR)
    email_retry = rate_limit_hit(
        email_key, settings.CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR, HOUR
    )
    if ip_retry is not None or email_retry is not None:
        logger.warning(
            "Checkout rate limited",
            extra={
                "ip_key": ip_key if ip_retry is not None else None,
                "email_key": email_key if email_retry is not None else None,
            },
        )
        raise TooManyHolds(retry_after_seconds=max(ip_retry or 0, email_retry or 0))

    pending = Booking.objects.holding().filter(buyer_email__iexact=email.strip())
    if pending.count() >= settings.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL:
        logger.info("Checkout refused: too many pending holds for %s", email_key)
        raise TooManyPendingHolds()


def honeypot_tripped(data: Mapping) -> bool:
    """True when the hidden `HONEYPOT_FIELD`, which people never see, was filled in."""
    value = data.get(HONEYPOT_FIELD)
    return bool(value and str(value).strip())
