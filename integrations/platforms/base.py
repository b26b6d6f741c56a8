"""The one interface every external ticketing platform implements.

A platform module turns our calls into the platform's wire format and back into these
dataclasses. It never touches the ORM: mapping to rows happens in
`integrations/services/`. All HTTP goes through `ticketing.lib.http.ExternalApi`
(timeouts, retries, breaker, rate limit, call log); responses are validated with
pydantic models before use, and anything unexpected raises `MalformedResponse`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import ValidationError

from ticketing.lib.http import (
    CircuitOpen,
    ExternalApi,
    ExternalAuthError,
    ExternalError,
    ExternalRejected,
    ExternalUnavailable,
    MalformedResponse,
    RateLimit,
)

__all__ = [
    "CircuitOpen",
    "ExternalApi",
    "ExternalAuthError",
    "ExternalError",
    "ExternalOrder",
    "ExternalRejected",
    "ExternalTicket",
    "ExternalUnavailable",
    "ListingRef",
    "MalformedResponse",
    "PlatformClient",
    "PlatformCredentials",
    "Places",
    "RateLimit",
    "malformed",
]


@dataclass(frozen=True, slots=True)
class PlatformCredentials:
    """What a client needs to act for one organiser (secret already decrypted)."""

    token: str  # Billetweb key, Humanitix x-api-key, Eventbrite bearer token
    account_id: str = ""  # Billetweb user id; Eventbrite org id; Humanitix region


@dataclass(frozen=True, slots=True)
class ListingRef:
    """Where one local session lives on the platform."""

    event_id: str
    date_id: str = ""  # Billetweb date id, Humanitix eventDateId; "" for Eventbrite
    ticket_ids: tuple[str, ...] = ()  # ticket classes / types that count; () = all


@dataclass(frozen=True, slots=True)
class Places:
    """The platform's own figures for a listing.

    `sold` is None when the platform does not report it directly (Humanitix): the
    service then counts the active tickets it has imported for the listing.
    `total` is None when the platform does not say (or says "unlimited").
    """

    total: int | None
    sold: int | None


@dataclass(frozen=True, slots=True)
class ExternalTicket:
    external_id: str
    is_active: bool  # False once cancelled, refunded or voided
    quantity: int = 1
    ticket_type_id: str = ""
    ticket_type_name: str = ""


@dataclass(frozen=True, slots=True)
class ExternalOrder:
    """One order as the platform reports it now. `tickets` holds only the tickets
    this fetch returned (an incremental fetch returns those that changed)."""

    external_id: str
    tickets: tuple[ExternalTicket, ...]
    buyer_name: str = ""
    buyer_email: str = ""
    currency: str = ""
    total_minor: int | None = None
    placed_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


class PlatformClient(ABC):
    """A platform's API for one connection.

    Every method is read-only and safe to call again. Methods raise the errors of
    `ticketing.lib.http` (re-exported here): `ExternalUnavailable` for anything a
    later attempt may fix, `ExternalAuthError` for refused credentials,
    `ExternalRejected` for other refusals, `MalformedResponse` for bodies that do not
    match the documented shape. Datetimes returned are aware.
    """

    identifier: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, credentials: PlatformCredentials, *, rate_key: str) -> None:
        self.credentials = credentials
        self.rate_key = rate_key

    @abstractmethod
    def fetch_places(self, listing: ListingRef) -> Places:
        """The listing's places total and sold right now (one or two calls)."""

    @abstractmethod
    def fetch_orders(
        self, listing: ListingRef, *, since: dt.datetime | None
    ) -> list[ExternalOrder]:
        """Orders of the listing with tickets created or changed since `since` (all of
        them when None), every page followed. Cancelled and refunded tickets are
        included with `is_active=False`. Tickets of other dates or (when the listing
        names some) other ticket classes are left out."""

    def fetch_resource_event_id(self, resource_url: str) -> str:
        """For webhooks that name a resource to fetch (Eventbrite's `api_url`): fetch
        it with our credentials and return the platform event id it belongs to."""
        raise ExternalRejected(f"{self.identifier} has no webhook resources")


def malformed(platform: str, what: str, error: ValidationError | Exception):
    """The error to raise when a body fails validation (keeps the cause)."""
    detail = error.errors()[0] if isinstance(error, ValidationError) else error
    exc = MalformedResponse(f"{platform}: unexpected {what}: {detail}")
    exc.__cause__ = error
    return exc
