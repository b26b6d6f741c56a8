"""Eventbrite API v3 (read-only): ticket classes for places, attendees for orders, and
re-fetching the resource a webhook names.

Facts used (see docs/specs "Eventbrite API v3"): Bearer token; paths end with "/";
lists carry `pagination` and continue with `continuation=<token>`; money objects
give minor units in `value`; errors are `{"error": CODE, ...}`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from .base import (
    ExternalApi,
    ExternalAuthError,
    ExternalError,
    ExternalOrder,
    ExternalRejected,
    ExternalTicket,
    ListingRef,
    MalformedResponse,
    Places,
    PlatformClient,
    RateLimit,
    malformed,
)

# A server that never stops paging must not hold a worker forever; 2,000 pages of
# ~50 is far beyond any single event we list.
MAX_PAGES = 2000

_EVENT_PATH = re.compile(r"^events/(?P<id>[^/?#]+)/?$")


class _Model(BaseModel):
    # Eventbrite returns ids as strings, but a number must not fail the whole sync.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _Money(_Model):
    currency: str
    value: int


class _Pagination(_Model):
    has_more_items: bool
    continuation: str | None = None
    page_number: int | None = None
    page_count: int | None = None


class _Page(_Model):
    pagination: _Pagination


class _TicketClass(_Model):
    id: str
    quantity_total: int
    quantity_sold: int
    donation: bool = False


class _TicketClassPage(_Page):
    ticket_classes: list[_TicketClass]


class _Profile(_Model):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class _Costs(_Model):
    gross: _Money | None = None


class _Attendee(_Model):
    id: str
    order_id: str
    ticket_class_id: str
    ticket_class_name: str | None = None
    quantity: int = 1
    # Required on purpose: a missing flag must not turn a refund into a sale.
    cancelled: bool
    refunded: bool
    profile: _Profile | None = None
    costs: _Costs | None = None
    created: AwareDatetime | None = None


class _AttendeePage(_Page):
    attendees: list[_Attendee]


class _Resource(_Model):
    id: str | None = None
    event_id: str | None = None


PageT = TypeVar("PageT", bound=_Page)


def format_changed_since(since: dt.datetime) -> str:
    if since.tzinfo is None:
        raise ValueError("changed_since needs an aware datetime")
    return since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventbriteClient(PlatformClient):
    identifier = "eventbrite"
    label = "Eventbrite"

    def __init__(self, credentials, *, rate_key: str) -> None:
        super().__init__(credentials, rate_key=rate_key)
        self.api = ExternalApi(
            service="eventbrite",
            base_url=settings.EVENTBRITE_API_BASE,
            rate_key=self.rate_key,
            rate_limit=RateLimit.parse(settings.EVENTBRITE_RATE_LIMIT),
            headers={"Authorization": f"Bearer {credentials.token}"},
        )

    # -- PlatformClient ------------------------------------------------------------

    def fetch_places(self, listing: ListingRef) -> Places:
        wanted = set(listing.ticket_ids)
        total = sold = 0
        path = f"events/{listing.event_id}/ticket_classes/"
        for page in self._pages(path, {}, _TicketClassPage, "ticket classes"):
            for ticket_class in page.ticket_classes:
                if ticket_class.donation:
                    continue  # a donation is money, not a seat
                if wanted and ticket_class.id not in wanted:
                    continue
                total += ticket_class.quantity_total
                sold += ticket_class.quantity_sold
        return Places(total=total, sold=sold)

    def fetch_orders(
        self, listing: ListingRef, *, since: dt.datetime | None
    ) -> list[ExternalOrder]:
        wanted = set(listing.ticket_ids)
        params = {"changed_since": format_changed_since(since)} if since else {}
        path = f"events/{listing.event_id}/attendees/"
        by_order: dict[str, list[_Attendee]] = {}
        for page in self._pages(path, params, _AttendeePage, "attendees"):
            for attendee in page.attendees:
                if wanted and attendee.ticket_class_id not in wanted:
                    continue
                by_order.setdefault(attendee.order_id, []).append(attendee)
        return [_order(order_id, group) for order_id, group in by_order.items()]

    def fetch_resource_event_id(self, resource_url: str) -> str:
        relative = self._relative_to_base(resource_url)
        body = self._get(resource_url, None)
        try:
            resource = _Resource.model_validate(body)
        except ValidationError as error:
            raise malformed(self.identifier, "webhook resource", error) from None
        if resource.event_id:
            return resource.event_id
        match = _EVENT_PATH.match(urlsplit(relative).path)
        if match and resource.id:
            return resource.id
        raise MalformedResponse(
            f"{self.identifier}: webhook resource {urlsplit(relative).path!r} names "
            "no event"
        )

    # -- plumbing ------------------------------------------------------------------

    def _relative_to_base(self, resource_url: str) -> str:
        """The part of `resource_url` under our API base; ExternalRejected (before any
        request) for anything else, since the URL comes from an unsigned webhook and
        we send our token with it."""
        base = settings.EVENTBRITE_API_BASE.rstrip("/") + "/"
        url = (resource_url or "").strip()
        if not url.startswith(base):
            raise ExternalRejected(
                f"{self.identifier}: webhook resource outside {base}"
            )
        relative = url[len(base) :]
        path = urlsplit(relative).path
        # Dot segments would be resolved by the HTTP stack and could leave /v3/.
        if "\\" in url or any(part in (".", "..") for part in path.split("/")):
            raise ExternalRejected(f"{self.identifier}: odd webhook resource path")
        return relative

    def _get(self, path_or_url: str, params: dict[str, Any] | None) -> Any:
        try:
            return self.api.get_json(path_or_url, params)
        except ExternalAuthError:
            raise
        except ExternalRejected as error:
            if error.status == 400 and self._token_refused():
                raise ExternalAuthError(
                    f"{self.identifier} refused the credentials (400)", status=400
                ) from error
            raise

    def _token_refused(self) -> bool:
        """Eventbrite answers a wrong token with 400 INVALID_AUTH, which ExternalApi
        cannot tell from other 400s without the body: a call that needs nothing but
        the token tells them apart."""
        try:
            self.api.get_json("users/me/organizations/")
        except ExternalAuthError:
            return True
        except ExternalRejected as error:
            return error.status == 400
        except ExternalError:
            return False  # the first refusal says more than an outage now
        return False

    def _pages(
        self, path: str, params: dict[str, Any], model: type[PageT], what: str
    ) -> Iterator[PageT]:
        seen: set[str] = set()
        continuation: str | None = None
        for _ in range(MAX_PAGES):
            query = {**params, "continuation": continuation} if continuation else params
            body = self._get(path, query)
            try:
                page = model.model_validate(body)
            except ValidationError as error:
                raise malformed(self.identifier, what, error) from None
            yield page
            if not page.pagination.has_more_items:
                return
            continuation = page.pagination.continuation
            if not continuation or continuation in seen:
                raise MalformedResponse(
                    f"{self.identifier}: {what} pagination does not advance"
                )
            seen.add(continuation)
        raise MalformedResponse(f"{self.identifier}: {what} has over {MAX_PAGES} pages")


def _order(order_id: str, attendees: list[_Attendee]) -> ExternalOrder:
    first = attendees[0]
    profile = first.profile or _Profile()
    name = " ".join(p for p in (profile.first_name, profile.last_name) if p)
    grosses = [a.costs.gross for a in attendees if a.costs and a.costs.gross]
    currencies = {g.currency for g in grosses}
    if len(currencies) > 1:
        raise MalformedResponse(
            f"eventbrite: order {order_id} mixes currencies {sorted(currencies)}"
        )
    return ExternalOrder(
        external_id=order_id,
        tickets=tuple(
            ExternalTicket(
                external_id=a.id,
                is_active=not (a.cancelled or a.refunded),
                quantity=a.quantity,
                ticket_type_id=a.ticket_class_id,
                ticket_type_name=a.ticket_class_name or "",
            )
            for a in attendees
        ),
        buyer_name=name,
        buyer_email=profile.email or "",
        currency=grosses[0].currency if grosses else "",
        total_minor=sum(g.value for g in grosses) if grosses else None,
        placed_at=first.created,
    )
