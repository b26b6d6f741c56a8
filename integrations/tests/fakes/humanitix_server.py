"""A local fake of the Humanitix Public API v1 (read-only), served over real HTTP.

Shapes follow section 2 of shared/specs/external-apis.md: `x-api-key` auth,
`page`/`pageSize` paging with `{"total", "page", "pageSize", "<resource>": [...]}`,
`since` on updatedAt, money as decimal major units, and Fastify-style errors,
including a 400 for any query parameter the route does not document.

    from integrations.tests.fakes.humanitix_server import humanitix_fake  # noqa: F401

    def test_something(humanitix_fake):
        event_id = humanitix_fake.add_event(currency="AUD")
        date_id = humanitix_fake.date_ids(event_id)[0]
        order_id, ticket_ids = humanitix_fake.sell(event_id, date_id, 2)
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from .base import FakePlatform, Reply, Request

DEFAULT_API_KEY = "hx_fake_key_5f2b9c0e7d4a41b3"

_ROUTE = re.compile(
    r"^/v1/events(?:/(?P<event>\w+)(?:/(?P<kind>tickets|orders)(?:/(?P<id>\w+))?)?)?$"
)
# The documented query parameters of each route (overrideLocation goes everywhere).
_PAGED = {"page", "pageSize", "since"}
_ALLOWED = {
    "events": _PAGED | {"inFutureOnly"},
    "event": set(),
    "tickets": _PAGED | {"eventDateId", "status"},
    "orders": _PAGED | {"eventDateId"},
    "item": set(),
}
_TOTALS = "subtotal total bookingFee discounts refunds grossSales netSales".split()


class Sale(NamedTuple):
    order_id: str
    ticket_ids: list[str]


def _iso(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, Decimal):
        return float(value)  # the real API sends JSON numbers
    return value


def _error(status: int, error: str, message: str) -> Reply:
    return Reply(status, {"statusCode": status, "error": error, "message": message})


class HumanitixFake(FakePlatform):
    name = "humanitix"

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.events: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.now: dt.datetime | None = None  # set to freeze the fake's clock
        self._ids = itertools.count(1)
        self._data = threading.RLock()

    # -- state set up by tests ---------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)

    def new_id(self) -> str:
        with self._data:
            return f"65f0{next(self._ids):020x}"

    def add_event(
        self,
        name: str = "Fake gala",
        *,
        currency: str = "AUD",
        total_capacity: int | None = 100,
        dates: int = 1,
        ticket_types: tuple[tuple[str, str, int | None], ...] = (
            ("General Admission", "45.50", 100),
        ),
    ) -> str:
        """A new event with `dates` dates and (name, price, quantity) ticket types."""
        event_id = self.new_id()
        event = {
            "_id": event_id,
            "name": name,
            "slug": name.lower().replace(" ", "-"),
            "currency": currency,
            "timezone": "Australia/Sydney",
            "published": True,
            "public": True,
            "suspendSales": False,
            "markedAsSoldOut": False,
            "dates": [],
            "ticketTypes": [],
            "updatedAt": self._now(),
            "location": "AU",  # undocumented here: clients must ignore it
        }
        if total_capacity is not None:
            event["totalCapacity"] = total_capacity
        with self._data:
            self.events[event_id] = event
        for _ in range(dates):
            self.add_date(event_id)
        for type_name, price, quantity in ticket_types:
            self.add_ticket_type(event_id, type_name, price, quantity)
        return event_id

    def add_date(
        self, event_id: str, *, start: dt.datetime | None = None, deleted: bool = False
    ) -> str:
        start = start or dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
        date = {
            "_id": self.new_id(),
            "startDate": start,
            "endDate": start + dt.timedelta(hours=3),
            "disabled": False,
            "deleted": deleted,
        }
        with self._data:
            self.events[event_id]["dates"].append(date)
        return date["_id"]

    def add_ticket_type(
        self,
        event_id: str,
        name: str = "General Admission",
        price: str = "45.50",
        quantity: int | None = 100,
        *,
        deleted: bool = False,
    ) -> str:
        ticket_type = {
            "_id": self.new_id(),
            "name": name,
            "price": Decimal(price),
            "disabled": False,
            "deleted": deleted,
            "isDonation": False,
        }
        if quantity is not None:
            ticket_type["quantity"] = quantity
        with self._data:
            self.events[event_id]["ticketTypes"].append(ticket_type)
        return ticket_type["_id"]

    def date_ids(self, event_id: str) -> list[str]:
        with self._data:
            return [d["_id"] for d in self.events[event_id]["dates"]]

    def ticket_type_ids(self, event_id: str) -> list[str]:
        with self._data:
            return [t["_id"] for t in self.events[event_id]["ticketTypes"]]

    def sell(
        self,
        event_id: str,
        date_id: str,
        n: int = 1,
        *,
        order_id: str | None = None,
        ticket_type_id: str | None = None,
        email: str = "buyer@example.com",
        first_name: str = "Alex",
        last_name: str = "Buyer",
        at: dt.datetime | None = None,
    ) -> Sale:
        """`n` complete tickets in a new order (or added to `order_id`)."""
        at = at or self._now()
        with self._data:
            event = self.events[event_id]
            types = [t for t in event["ticketTypes"] if not t["deleted"]]
            ticket_type = next(t for t in types if ticket_type_id in (None, t["_id"]))
            order = self.orders.get(order_id) if order_id else None
            if order is None:
                buyer = {"email": email, "firstName": first_name, "lastName": last_name}
                order = self._new_order(order_id or self.new_id(), event, date_id, at)
                order.update(buyer)
            ticket_ids = []
            for _ in range(n):
                ticket = {
                    "_id": self.new_id(),
                    "orderId": order["_id"],
                    "eventId": event_id,
                    "eventDateId": date_id,
                    "ticketTypeId": ticket_type["_id"],
                    "ticketTypeName": ticket_type["name"],
                    "status": "complete",
                    "price": ticket_type["price"],
                    "total": ticket_type["price"],
                    "firstName": first_name,
                    "lastName": last_name,
                    "checkInHistory": [],
                    "createdAt": at,
                    "updatedAt": at,
                }
                self.tickets[ticket["_id"]] = ticket
                ticket_ids.append(ticket["_id"])
                for key in ("subtotal", "total", "grossSales", "netSales"):
                    order["totals"][key] += ticket_type["price"]
            order["updatedAt"] = at
            return Sale(order["_id"], ticket_ids)

    def _new_order(self, order_id, event, date_id, at) -> dict[str, Any]:
        zero = Decimal("0")
        order = {
            "_id": order_id,
            "eventId": event["_id"],
            "eventDateId": date_id,
            "status": "complete",
            "financialStatus": "paid",
            "currency": event["currency"],
            "totals": dict.fromkeys(_TOTALS, zero),
            "createdAt": at,
            "completedAt": at,
            "updatedAt": at,
            "salesChannel": "online",  # undocumented here: clients must ignore it
        }
        self.orders[order_id] = order
        return order

    def cancel_ticket(self, ticket_id: str, *, at: dt.datetime | None = None) -> None:
        """Only the ticket changes (whether Humanitix bumps the order is unknown)."""
        with self._data:
            ticket = self.tickets[ticket_id]
            ticket["status"] = "cancelled"
            ticket["updatedAt"] = at or self._now()

    def refund_order(self, order_id: str, *, at: dt.datetime | None = None) -> None:
        at = at or self._now()
        with self._data:
            order = self.orders[order_id]
            order.update(status="cancelled", financialStatus="refunded", updatedAt=at)
            order["totals"]["refunds"] = order["totals"]["total"]
            order["totals"]["netSales"] = Decimal("0")
            for ticket in self.tickets.values():
                if ticket["orderId"] == order_id:
                    ticket.update(status="cancelled", updatedAt=at)

    # -- HTTP ------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "Unauthorized", "Invalid API key")
        match = _ROUTE.match(request.path)
        if match is None:
            return _error(
                404, "Not Found", f"Route {request.method}:{request.path} not found"
            )
        ids = match.groupdict()
        kind = (
            "item"
            if ids["id"]
            else ids["kind"] or ("event" if ids["event"] else "events")
        )
        if request.method != "GET":
            return _error(405, "Method Not Allowed", "Read-only API")
        extra = sorted(set(request.query) - _ALLOWED[kind] - {"overrideLocation"})
        if extra:
            return _error(
                400,
                "Bad Request",
                f"query should NOT have additional properties '{extra[0]}'",
            )
        with self._data:
            return self._answer(kind, ids, request.query)

    def _answer(self, kind: str, ids: dict[str, str], query: dict[str, str]) -> Reply:
        region = query.get("overrideLocation")
        if region is not None and not re.fullmatch(r"[A-Z]{2}", region):
            return _error(400, "Bad Request", "query/overrideLocation is invalid")
        if kind == "events":
            return self._page("events", list(self.events.values()), query)
        event = self.events.get(ids["event"])
        if event is None:
            return _error(404, "Not Found", "Event not found")
        if kind == "event":
            return Reply(200, _jsonable(event))
        if kind == "item":
            store = self.tickets if ids["kind"] == "tickets" else self.orders
            item = store.get(ids["id"])
            if item is None or item["eventId"] != event["_id"]:
                return _error(404, "Not Found", f"{ids['kind'][:-1]} not found")
            return Reply(200, _jsonable(item))
        store = self.tickets if kind == "tickets" else self.orders
        items = [i for i in store.values() if i["eventId"] == event["_id"]]
        if "eventDateId" in query:
            items = [i for i in items if i["eventDateId"] == query["eventDateId"]]
        if "status" in query:
            if query["status"] not in ("complete", "cancelled"):
                message = "query/status must be equal to one of the allowed values"
                return _error(400, "Bad Request", message)
            items = [i for i in items if i["status"] == query["status"]]
        return self._page(kind, items, query)

    def _page(self, resource: str, items: list[dict], query: dict[str, str]) -> Reply:
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("pageSize", "100"))
        except ValueError:
            return _error(400, "Bad Request", "query/page must be integer")
        if page < 1 or not 1 <= page_size <= 100:
            return _error(400, "Bad Request", "query/pageSize must be <= 100")
        if "since" in query:
            try:
                since = dt.datetime.fromisoformat(query["since"])
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                return _error(400, "Bad Request", 'query/since must match "date-time"')
            items = [i for i in items if i["updatedAt"] >= since]
        items = sorted(
            items, key=lambda i: (i.get("createdAt") or i["updatedAt"], i["_id"])
        )
        chunk = items[(page - 1) * page_size : page * page_size]
        return Reply(
            200,
            {
                "total": len(items),
                "page": page,
                "pageSize": page_size,
                resource: _jsonable(chunk),
            },
        )


@pytest.fixture
def humanitix_fake(settings):
    fake = HumanitixFake().start()
    settings.HUMANITIX_API_BASE = fake.url + "/v1"
    settings.HUMANITIX_RATE_LIMIT = "0"
    try:
        yield fake
    finally:
        fake.stop()
