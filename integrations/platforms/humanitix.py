"""Humanitix Public API v1 (read-only), as described in section 2 of
shared/specs/external-apis.md.

Places per date are not reported: `fetch_places` gives the capacity only and the
service counts the imported active tickets. Orders are read as tickets (which carry
the date, ticket type and status) and enriched with the orders endpoint for the
buyer and the money.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from django.conf import settings
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from ticketing.lib.money import currency_exponent

from .base import (
    ExternalApi,
    ExternalAuthError,
    ExternalOrder,
    ExternalRejected,
    ExternalTicket,
    ListingRef,
    MalformedResponse,
    Places,
    PlatformClient,
    PlatformCredentials,
    RateLimit,
    malformed,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the documented maximum
# 200k tickets for one date: a server still answering full pages past this is
# broken, and failing beats looping for ever.
MAX_PAGES = 2000


def _decimal(value: Any) -> Any:
    # JSON numbers arrive as floats; going through str keeps "45.5" exact.
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if not isinstance(value, int | float | str):
        return value
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def _flag(value: Any) -> Any:
    return False if value is None else value


def _text(value: Any) -> Any:
    return "" if value is None else value


HexId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
Amount = Annotated[Decimal, BeforeValidator(_decimal)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]


class _Model(BaseModel):
    # Humanitix adds fields between versions: anything undocumented is ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class EventDate(_Model):
    id: HexId = Field(alias="_id")
    deleted: Flag = False


class TicketType(_Model):
    id: HexId = Field(alias="_id")
    name: Text = ""
    quantity: int | None = Field(default=None, ge=0)
    deleted: Flag = False


class Event(_Model):
    id: HexId = Field(alias="_id")
    total_capacity: int | None = Field(default=None, alias="totalCapacity", ge=0)
    dates: list[EventDate]
    ticket_types: list[TicketType] = Field(default_factory=list, alias="ticketTypes")


class Ticket(_Model):
    id: HexId = Field(alias="_id")
    order_id: HexId = Field(alias="orderId")
    event_date_id: HexId | None = Field(default=None, alias="eventDateId")
    ticket_type_id: HexId | None = Field(default=None, alias="ticketTypeId")
    ticket_type_name: Text = Field(default="", alias="ticketTypeName")
    status: str
    first_name: Text = Field(default="", alias="firstName")
    last_name: Text = Field(default="", alias="lastName")
    created_at: AwareDatetime | None = Field(default=None, alias="createdAt")


class Totals(_Model):
    total: Amount | None = None


class Order(_Model):
    id: HexId = Field(alias="_id")
    first_name: Text = Field(default="", alias="firstName")
    last_name: Text = Field(default="", alias="lastName")
    email: Text = ""
    currency: Text = ""
    totals: Totals | None = None
    created_at: AwareDatetime | None = Field(default=None, alias="createdAt")


class _Page(_Model):
    total: int = Field(ge=0)
    page_size: int = Field(alias="pageSize", ge=1)


class TicketPage(_Page):
    items: list[Ticket] = Field(alias="tickets")


class OrderPage(_Page):
    items: list[Order] = Field(alias="orders")


PageT = TypeVar("PageT", TicketPage, OrderPage)


def to_minor(amount: Decimal, currency: str) -> int:
    scaled = amount.scaleb(currency_exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def iso_utc(moment: dt.datetime) -> str:
    """2026-11-22T10:00:00.000Z: the form Humanitix itself returns. Milliseconds are
    truncated, so the window only ever widens."""
    if moment.tzinfo is None:
        raise ValueError("since must be an aware datetime")
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _full_name(first: str, last: str) -> str:
    return " ".join(part for part in (first.strip(), last.strip()) if part)


class HumanitixClient(PlatformClient):
    identifier = "humanitix"
    label = "Humanitix"

    def __init__(self, credentials: PlatformCredentials, *, rate_key: str) -> None:
        super().__init__(credentials, rate_key=rate_key)
        # Data lives per region; the account id, when set, names the region.
        params = (
            {"overrideLocation": credentials.account_id}
            if credentials.account_id
            else {}
        )
        self.api = ExternalApi(
            service="humanitix",
            base_url=settings.HUMANITIX_API_BASE,
            rate_key=rate_key,
            rate_limit=RateLimit.parse(settings.HUMANITIX_RATE_LIMIT),
            headers={"x-api-key": credentials.token},
            params=params,
        )

    # -- calls -------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.api.get_json(path, params)
        except ExternalAuthError as error:
            raise ExternalAuthError(
                f"Humanitix refused the API key{self._region()} ({error.status})",
                status=error.status,
            ) from error
        except ExternalRejected as error:
            # ExternalApi drops the Fastify body, so name what we sent instead:
            # the parameter names are what a 400 is almost always about, and
            # they hold nothing secret (the key travels in a header).
            sent = ", ".join(sorted({*self.api.params, *(params or {})})) or "none"
            raise ExternalRejected(
                f"Humanitix refused GET {path} ({error.status}); query parameters "
                f"sent: {sent}",
                status=error.status,
            ) from error

    def _region(self) -> str:
        account = self.credentials.account_id
        return f" for region {account}" if account else ""

    def _pages(
        self, path: str, params: dict[str, Any], model: type[PageT], what: str
    ) -> Iterator[Any]:
        for page in range(1, MAX_PAGES + 1):
            body = self._get(path, {**params, "page": page, "pageSize": PAGE_SIZE})
            try:
                parsed = model.model_validate(body)
            except ValidationError as error:
                raise malformed("humanitix", what, error) from error
            yield from parsed.items
            if not parsed.items or page * parsed.page_size >= parsed.total:
                return
        raise MalformedResponse(f"humanitix: {what} still going after {MAX_PAGES}")

    # -- interface ---------------------------------------------------------------

    @staticmethod
    def _check(listing: ListingRef) -> None:
        # Every Humanitix listing is one date of an event; without it we would
        # count the tickets of all dates against one session.
        if not listing.date_id:
            raise ExternalRejected("A Humanitix listing needs its event date id")

    def fetch_places(self, listing: ListingRef) -> Places:
        self._check(listing)
        body = self._get(f"events/{listing.event_id}")
        try:
            event = Event.model_validate(body)
        except ValidationError as error:
            raise malformed("humanitix", "event", error) from error
        date = next((d for d in event.dates if d.id == listing.date_id), None)
        if date is None or date.deleted:
            state = "has no" if date is None else "has deleted"
            raise ExternalRejected(
                f"Humanitix event {listing.event_id} {state} date {listing.date_id!r}"
            )
        # UNVERIFIED (spec section 2): whether totalCapacity and ticket-type
        # quantities apply to each date or across all dates of the event. We read
        # them as per date, which is right for single-date events.
        if not listing.ticket_ids:
            return Places(total=event.total_capacity, sold=None)
        types = {t.id: t for t in event.ticket_types}
        if not any(ticket_id in types for ticket_id in listing.ticket_ids):
            raise ExternalRejected(
                f"Humanitix event {listing.event_id} has none of the ticket types "
                f"{', '.join(listing.ticket_ids)}"
            )
        total = 0
        for ticket_id in listing.ticket_ids:
            ticket_type = types.get(ticket_id)
            # A deleted or vanished type sells nothing more; its sold tickets are
            # still counted by the service from the imported orders.
            if ticket_type is None or ticket_type.deleted:
                continue
            if ticket_type.quantity is None:  # no limit set on this type
                return Places(total=None, sold=None)
            total += ticket_type.quantity
        return Places(total=total, sold=None)

    def fetch_orders(
        self, listing: ListingRef, *, since: dt.datetime | None
    ) -> list[ExternalOrder]:
        self._check(listing)
        params: dict[str, Any] = {"eventDateId": listing.date_id}
        if since is not None:
            params["since"] = iso_utc(since)
        base = f"events/{listing.event_id}"
        wanted = set(listing.ticket_ids)

        tickets: dict[str, Ticket] = {}
        unknown_statuses: set[str] = set()
        for ticket in self._pages(f"{base}/tickets", params, TicketPage, "tickets"):
            if ticket.event_date_id not in (None, listing.date_id):
                continue
            if wanted and ticket.ticket_type_id not in wanted:
                continue
            if ticket.status not in ("complete", "cancelled"):
                unknown_statuses.add(ticket.status)
            # A ticket that changed while we paged can show up twice: last wins.
            tickets[ticket.id] = ticket
        if unknown_statuses:
            # The spec counts only "complete" as sold; a new status is worth a look.
            logger.warning(
                "Humanitix tickets with undocumented statuses %s counted inactive",
                sorted(unknown_statuses),
            )
        if not tickets:
            return []

        orders = {
            order.id: order
            for order in self._pages(f"{base}/orders", params, OrderPage, "orders")
        }
        grouped: dict[str, list[Ticket]] = {}
        for ticket in tickets.values():
            grouped.setdefault(ticket.order_id, []).append(ticket)
        result = [
            self._order(order_id, group, orders.get(order_id))
            for order_id, group in grouped.items()
        ]
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        result.sort(key=lambda o: (o.placed_at or oldest, o.external_id))
        return result

    @staticmethod
    def _order(
        order_id: str, tickets: list[Ticket], order: Order | None
    ) -> ExternalOrder:
        external_tickets = tuple(
            ExternalTicket(
                external_id=t.id,
                is_active=t.status == "complete",
                ticket_type_id=t.ticket_type_id or "",
                ticket_type_name=t.ticket_type_name,
            )
            for t in tickets
        )
        created = [t.created_at for t in tickets if t.created_at is not None]
        first_created = min(created) if created else None
        if order is None:
            # Not among the orders changed since `since` (a lone ticket was
            # cancelled, say): the tickets give the name; the blank email,
            # currency and total mean "not fetched", not "empty".
            first = tickets[0]
            return ExternalOrder(
                external_id=order_id,
                tickets=external_tickets,
                buyer_name=_full_name(first.first_name, first.last_name),
                placed_at=first_created,
            )
        total = order.totals.total if order.totals else None
        return ExternalOrder(
            external_id=order_id,
            tickets=external_tickets,
            buyer_name=_full_name(order.first_name, order.last_name)
            or _full_name(tickets[0].first_name, tickets[0].last_name),
            buyer_email=order.email.strip(),
            currency=order.currency.upper(),
            total_minor=None if total is None else to_minor(total, order.currency),
            placed_at=order.created_at or first_created,
        )
