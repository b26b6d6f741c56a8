"""Billetweb (billetweb.fr): places per session and sold tickets, read-only.

Wire facts (see shared/specs/external-apis.md, section 1): auth rides in the query
string, every scalar is a string, datetimes are Europe/Paris wall-clock time without
an offset, lists are never paginated, and errors come back as a JSON object
`{"error": ..., "description": ...}`, possibly with HTTP 200, instead of the list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from .base import (
    ExternalApi,
    ExternalAuthError,
    ExternalOrder,
    ExternalRejected,
    ExternalTicket,
    ExternalUnavailable,
    ListingRef,
    Places,
    PlatformClient,
    PlatformCredentials,
    RateLimit,
    malformed,
)

PARIS = ZoneInfo("Europe/Paris")
NO_DATETIME = frozenset({"", "0000-00-00 00:00:00"})
# Billetweb asks callers who hit its limiter to back off; it sends no Retry-After,
# and its window is a minute ("100 hits per minute").
RATE_LIMITED_RETRY_AFTER = 60
# Attendees of a single-session event (multiple="0") carry this session id.
NO_SESSION = frozenset({"", "0"})


def _paris_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        raise ValueError("expected a 'YYYY-MM-DD HH:MM:SS' string")
    if value in NO_DATETIME:
        return None
    # fold=0: an ambiguous autumn wall-clock time is read as the first (summer) one;
    # Billetweb gives us nothing to tell them apart.
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)


def _decimal_string(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        raise ValueError("expected a decimal string")
    if value == "":
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return amount


ParisTime = Annotated[dt.datetime | None, BeforeValidator(_paris_datetime)]
Amount = Annotated[Decimal | None, BeforeValidator(_decimal_string)]
Digits = Annotated[str, StringConstraints(pattern=r"^\d+$")]
OptionalDigits = Annotated[str, StringConstraints(pattern=r"^\d*$")]


class _Model(BaseModel):
    # strict: a number where Billetweb documents a string is a changed API, not
    # something to coerce silently.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class ErrorBody(_Model):
    error: str
    description: str = ""


class DateItem(_Model):
    id: str
    quota: OptionalDigits = ""
    total_sales: Digits


class Rate(_Model):
    id: str
    # The spec gives no type for a rate's quota (its price is a JSON number), so
    # accept a number too; anything not a positive count means "no quota".
    quota: str | int | None = None

    @property
    def places(self) -> int | None:
        text = str(self.quota) if self.quota is not None else ""
        return int(text) if text.isdigit() and int(text) > 0 else None


class Attendee(_Model):
    id: str
    ticket: str = ""
    ticket_id: str
    firstname: str = ""
    name: str = ""
    disabled: str
    order_id: str
    order_email: str = ""
    order_date: ParisTime = None
    order_price: Amount = None
    order_session: str = ""
    last_update: ParisTime = None


_DATES = TypeAdapter(list[DateItem])
_RATES = TypeAdapter(list[Rate])
_ATTENDEES = TypeAdapter(list[Attendee])


def to_minor(amount: Decimal | None) -> int | None:
    """Billetweb prices are decimal strings with two places; no currency is sent."""
    if amount is None:
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _natural(identifier: str) -> tuple[int, str]:
    # Billetweb ids are decimal strings: order them as numbers, shortest first.
    return (len(identifier), identifier)


class BilletwebClient(PlatformClient):
    identifier = "billetweb"
    label = "Billetweb"

    def __init__(self, credentials: PlatformCredentials, *, rate_key: str) -> None:
        super().__init__(credentials, rate_key=rate_key)
        self.api = ExternalApi(
            service="billetweb",
            base_url=settings.BILLETWEB_API_BASE,
            rate_key=self.rate_key,
            rate_limit=RateLimit.parse(settings.BILLETWEB_RATE_LIMIT),
            params={
                "user": credentials.account_id,
                "key": credentials.token,
                "version": "1",
            },
        )

    # -- places ------------------------------------------------------------------

    def fetch_places(self, listing: ListingRef) -> Places:
        if listing.date_id == "":
            return self._single_session_places(listing)
        # past=1: a session that has started still counts for reconciliation.
        dates = self._get(
            f"event/{listing.event_id}/dates", {"past": "1"}, _DATES, "dates"
        )
        for date in dates:
            if date.id == listing.date_id:
                # An empty or zero quota is taken as "no limit set": whether Billetweb
                # means unlimited by it is unverified, so we claim no total.
                total = int(date.quota) if date.quota not in ("", "0") else None
                return Places(total=total, sold=int(date.total_sales))
        raise ExternalRejected(
            f"Billetweb event {listing.event_id} has no date {listing.date_id} "
            "(deleted on Billetweb, or the listing points at the wrong event)"
        )

    def _single_session_places(self, listing: ListingRef) -> Places:
        # An event with multiple="0" has no dates, hence no total_sales: its size is
        # what its rates put on sale, and the service counts imported tickets.
        rates = self._get(
            f"event/{listing.event_id}/tickets", None, _RATES, "ticket rates"
        )
        if listing.ticket_ids:
            rates = [rate for rate in rates if rate.id in listing.ticket_ids]
        quotas = [rate.places for rate in rates]
        if not quotas or any(quota is None for quota in quotas):
            return Places(total=None, sold=None)
        return Places(total=sum(quotas), sold=None)

    # -- orders ------------------------------------------------------------------

    def fetch_orders(
        self, listing: ListingRef, *, since: dt.datetime | None
    ) -> list[ExternalOrder]:
        params: dict[str, str] = {}
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be an aware datetime")
            # Floored: a row changed within that same second comes back rather than
            # being skipped.
            params["last_update"] = str(int(since.timestamp()))
        if listing.date_id:
            params["session"] = listing.date_id
        rows = self._get(
            f"event/{listing.event_id}/attendees", params, _ATTENDEES, "attendees"
        )
        return _orders(_keep(rows, listing))

    # -- plumbing ----------------------------------------------------------------

    def _get(self, path: str, params, adapter: TypeAdapter, what: str) -> list:
        body = self.api.get_json(path, params)
        if isinstance(body, dict) and "error" in body:
            _raise_error(body, path)
        try:
            return adapter.validate_python(body)
        except ValidationError as error:
            raise malformed("billetweb", what, error) from error


def _raise_error(body: dict, path: str) -> None:
    try:
        error = ErrorBody.model_validate(body)
    except ValidationError as problem:
        raise malformed("billetweb", "error body", problem) from problem
    message = f"Billetweb refused {path}: {error.error} {error.description}".strip()
    if error.error == "rate_limiting":
        raise ExternalUnavailable(message, retry_after=RATE_LIMITED_RETRY_AFTER)
    if error.error == "unauthorized":
        raise ExternalAuthError(message)
    raise ExternalRejected(message)


def _keep(rows: Iterable[Attendee], listing: ListingRef) -> list[Attendee]:
    # The session filter is applied here as well: its server-side behaviour is only
    # documented by a third-party digest, and a single-session event has no id for it.
    def wanted_session(row: Attendee) -> bool:
        if listing.date_id:
            return row.order_session == listing.date_id
        return row.order_session in NO_SESSION

    return [
        row
        for row in rows
        if wanted_session(row)
        and (not listing.ticket_ids or row.ticket_id in listing.ticket_ids)
    ]


def _orders(rows: list[Attendee]) -> list[ExternalOrder]:
    by_order: dict[str, list[Attendee]] = {}
    for row in rows:
        by_order.setdefault(row.order_id, []).append(row)
    orders = []
    for order_id in sorted(by_order, key=_natural):
        group = by_order[order_id]
        first = group[0]
        tickets = tuple(
            ExternalTicket(
                external_id=row.id,
                is_active=row.disabled == "0",
                ticket_type_id=row.ticket_id,
                ticket_type_name=row.ticket,
            )
            for row in sorted(group, key=lambda row: _natural(row.id))
        )
        orders.append(
            ExternalOrder(
                external_id=order_id,
                tickets=tickets,
                # Billetweb names attendees, not buyers: the first ticket's holder is
                # the best guess at who ordered.
                buyer_name=f"{first.firstname} {first.name}".strip(),
                buyer_email=first.order_email,
                currency="",
                # order_price is repeated on every row and covers the whole order,
                # including tickets of other sessions when there are some.
                total_minor=to_minor(first.order_price),
                placed_at=first.order_date,
            )
        )
    return orders
