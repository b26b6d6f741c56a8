"""A local fake of the slice of Eventbrite API v3 we read, served over real HTTP.

Tests set up what the organiser has on Eventbrite (`add_event`, `add_ticket_class`,
`sell`, `refund_order`, `cancel_order`), then let the client read it under `/v3/`
with a Bearer token, Eventbrite's pagination (opaque `continuation` tokens, small
pages) and Eventbrite's error JSON. `webhook_payload` / `webhook_headers` build the
thin POST Eventbrite sends to a webhook endpoint. Faults come from `FakePlatform`;
`reject_next(status, code)` adds Eventbrite-shaped refusals and
`repeat_continuation = True` a server that pages forever.

    def test_something(eventbrite_fake):
        eventbrite_fake.add_ticket_class("ev1", "tc1", quantity_total=100)
        order = eventbrite_fake.sell("ev1", "tc1", 2)
        client = EventbriteClient(PlatformCredentials(eventbrite_fake.token), ...)
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
import re
import secrets
import threading
from typing import Any

import pytest

from .base import FakePlatform, Reply, Request

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Eventbrite's UTC timestamps; sort as strings

_ROUTES = [
    (re.compile(r"^users/me/organizations/$"), "organizations"),
    (re.compile(r"^events/(?P<event>[^/]+)/$"), "event"),
    (re.compile(r"^events/(?P<event>[^/]+)/ticket_classes/$"), "ticket_classes"),
    (re.compile(r"^events/(?P<event>[^/]+)/ticket_classes/(?P<id>[^/]+)/$"), "tc"),
    (re.compile(r"^events/(?P<event>[^/]+)/attendees/$"), "attendees"),
    (re.compile(r"^events/(?P<event>[^/]+)/attendees/(?P<id>[^/]+)/$"), "attendee"),
    (re.compile(r"^orders/(?P<id>[^/]+)/$"), "order"),
]


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime(TIME_FORMAT)


def _money(currency: str, minor: int) -> dict[str, Any]:
    major = f"{minor / 100:.2f}"
    return {
        "currency": currency,
        "value": minor,
        "major_value": major,
        "display": f"{major} {currency}",
    }


def _error(status: int, code: str, description: str = "") -> Reply:
    body = {"error": code, "error_description": description, "status_code": status}
    return Reply(status, body)


class EventbriteFake(FakePlatform):
    name = "eventbrite"

    def __init__(self) -> None:
        super().__init__()
        self.token = f"EBPRIV{secrets.token_hex(10).upper()}"
        self.user_id = "311783287832"
        self.organization_id = "4815162342"
        self.webhook_id = "1806556"
        self.page_size = 50
        self.repeat_continuation = False
        self.time: dt.datetime | None = None  # frozen clock for created/changed
        self.events: dict[str, dict] = {}
        self.ticket_classes: dict[str, dict[str, dict]] = {}  # event -> id -> class
        self.orders: dict[str, dict] = {}
        self.attendees: dict[str, dict] = {}  # in creation order
        self._rejections: list[Reply] = []
        self.continuations: dict[str, tuple[str, int]] = {}  # token -> (scope, offset)
        self._ids = itertools.count(1034608001)
        self._data = threading.RLock()

    # -- what the organiser has on Eventbrite --------------------------------------

    def now(self) -> str:
        return _stamp(self.time or dt.datetime.now(dt.UTC))

    def add_event(self, event_id: str, *, name: str = "Concert", currency="EUR"):
        with self._data:
            return self.events.setdefault(
                event_id,
                {
                    "id": event_id,
                    "name": {"text": name, "html": name},
                    "start": {"utc": "2030-06-01T18:00:00Z", "timezone": "UTC"},
                    "end": {"utc": "2030-06-01T21:00:00Z", "timezone": "UTC"},
                    "status": "live",
                    "currency": currency,
                    "is_series": False,
                    "changed": self.now(),
                },
            )

    def add_ticket_class(
        self,
        event_id: str,
        class_id: str,
        quantity_total: int,
        quantity_sold: int = 0,
        donation: bool = False,
        *,
        name: str = "",
        price_minor: int = 2500,
    ) -> dict:
        with self._data:
            event = self.add_event(event_id)
            ticket_class = {
                "id": class_id,
                "event_id": event_id,
                "name": name or f"Class {class_id}",
                "quantity_total": quantity_total,
                "quantity_sold": quantity_sold,
                "donation": donation,
                "free": price_minor == 0 and not donation,
                "cost": None if donation else _money(event["currency"], price_minor),
                "hidden": False,
            }
            self.ticket_classes.setdefault(event_id, {})[class_id] = ticket_class
            return ticket_class

    def sell(
        self,
        event_id: str,
        class_id: str,
        n: int = 1,
        order_id: str | None = None,
        *,
        email: str = "ada@example.org",
        first_name: str = "Ada",
        last_name: str = "Lovelace",
    ) -> dict:
        """A placed order of `n` attendees of one class (one attendee per ticket)."""
        with self._data:
            ticket_class = self.ticket_classes[event_id][class_id]
            order_id = order_id or str(next(self._ids))
            price = ticket_class["cost"] or _money(self.events[event_id]["currency"], 0)
            now = self.now()
            for _ in range(n):
                attendee_id = str(next(self._ids))
                self.attendees[attendee_id] = {
                    "id": attendee_id,
                    "order_id": order_id,
                    "event_id": event_id,
                    "ticket_class_id": class_id,
                    "ticket_class_name": ticket_class["name"],
                    "quantity": 1,
                    "status": "Attending",
                    "checked_in": False,
                    "cancelled": False,
                    "refunded": False,
                    "profile": {
                        "first_name": first_name,
                        "last_name": last_name,
                        "email": email,
                        "name": f"{first_name} {last_name}",
                    },
                    "barcodes": [{"barcode": f"{attendee_id}001", "status": "unused"}],
                    "costs": {"base_price": dict(price), "gross": dict(price)},
                    "created": now,
                    "changed": now,
                }
            ticket_class["quantity_sold"] += n
            self.orders[order_id] = {
                "id": order_id,
                "event_id": event_id,
                "status": "placed",
                "name": f"{first_name} {last_name}",
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "costs": {"gross": _money(price["currency"], price["value"] * n)},
                "created": now,
                "changed": now,
            }
            return self.orders[order_id]

    def refund_order(self, order_id: str) -> None:
        self._void(order_id, "refunded", "refunded")

    def cancel_order(self, order_id: str) -> None:
        self._void(order_id, "cancelled", "deleted")

    def _void(self, order_id: str, flag: str, order_status: str) -> None:
        with self._data:
            order = self.orders[order_id]
            now = self.now()
            for attendee in self.attendees_of(order_id):
                if not (attendee["cancelled"] or attendee["refunded"]):
                    classes = self.ticket_classes[attendee["event_id"]]
                    classes[attendee["ticket_class_id"]]["quantity_sold"] -= 1
                attendee.update({flag: True, "status": "Not Attending", "changed": now})
            order.update(status=order_status, changed=now)

    def attendees_of(self, order_id: str) -> list[dict]:
        with self._data:
            return [a for a in self.attendees.values() if a["order_id"] == order_id]

    # -- faults and webhooks ---------------------------------------------------------

    def reject_next(self, status: int, code: str, description: str = "") -> None:
        """The next request is refused with Eventbrite's error JSON."""
        with self._data:
            self._rejections.append(_error(status, code, description))

    def resource_url(self, object_path: str) -> str:
        return f"{self.url}/v3/{object_path.lstrip('/')}"

    def webhook_payload(
        self,
        action: str,
        object_path: str | None = None,
        *,
        endpoint_url: str = "https://example.org/hooks/eventbrite/secret/",
    ) -> dict:
        """Eventbrite's thin body; without `object_path`, the dashboard test's
        placeholder api_url."""
        api_url = (
            self.resource_url(object_path)
            if object_path is not None
            else "{api-endpoint-to-fetch-object-details}"
        )
        config = {
            "action": action,
            "user_id": self.user_id,
            "endpoint_url": endpoint_url,
            "webhook_id": self.webhook_id,
        }
        return {"api_url": api_url, "config": config}

    def webhook_headers(self, action: str) -> dict[str, str]:
        return {
            "X-Eventbrite-Event": action,
            "X-Eventbrite-Delivery": self.webhook_id,
            "User-Agent": "Eventbrite Webhooks",
        }

    # -- the API -----------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        with self._data:
            if self._rejections:
                return self._rejections.pop(0)
            refusal = self._check_auth(request.headers.get("authorization"))
            if refusal:
                return refusal
            if request.method != "GET":
                return _error(405, "METHOD_NOT_ALLOWED")
            path = request.path.removeprefix("/v3/")
            for pattern, name in _ROUTES:
                match = pattern.match(path)
                if match:
                    reply = getattr(self, f"_get_{name}")(request, **match.groupdict())
                    # Sent after the lock is released: the body must not change.
                    return Reply(reply.status, copy.deepcopy(reply.body), reply.headers)
            return _error(404, "NOT_FOUND", "The path you requested does not exist.")

    def _check_auth(self, header: str | None) -> Reply | None:
        if not header:
            return _error(401, "NO_AUTH", "An OAuth token is required.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(400, "INVALID_AUTH_HEADER", "The header is malformed.")
        if token != self.token:
            # Eventbrite documents 400 (not 401) for a wrong token.
            return _error(
                400, "INVALID_AUTH", "The OAuth token you provided was invalid."
            )
        return None

    def _get_organizations(self, request: Request) -> Reply:
        organizations = [{"id": self.organization_id, "name": "Fake organiser"}]
        return self._page(request, "organizations", organizations)

    def _get_event(self, request: Request, event: str) -> Reply:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        return Reply(200, self.events[event])

    def _get_ticket_classes(self, request: Request, event: str) -> Reply:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        classes = list(self.ticket_classes.get(event, {}).values())
        return self._page(request, "ticket_classes", classes)

    def _get_tc(self, request: Request, event: str, id: str) -> Reply:
        found = self.ticket_classes.get(event, {}).get(id)
        return Reply(200, found) if found else _error(404, "NOT_FOUND")

    def _get_attendees(self, request: Request, event: str) -> Reply:
        if event not in self.events:
            return _error(404, "NOT_FOUND", "The event you requested does not exist.")
        attendees = [a for a in self.attendees.values() if a["event_id"] == event]
        since = request.query.get("changed_since")
        if since is not None:
            try:
                since = _stamp(
                    dt.datetime.strptime(since, TIME_FORMAT).replace(tzinfo=dt.UTC)
                )
            except ValueError:
                return _error(400, "ARGUMENTS_ERROR", "changed_since: bad datetime")
            attendees = [a for a in attendees if a["changed"] >= since]
        return self._page(request, "attendees", attendees)

    def _get_attendee(self, request: Request, event: str, id: str) -> Reply:
        found = self.attendees.get(id)
        ok = found is not None and found["event_id"] == event
        return Reply(200, found) if ok else _error(404, "NOT_FOUND")

    def _get_order(self, request: Request, id: str) -> Reply:
        found = self.orders.get(id)
        return Reply(200, found) if found else _error(404, "NOT_FOUND")

    def _page(self, request: Request, key: str, items: list[dict]) -> Reply:
        scope = f"{request.path}?{request.query.get('changed_since', '')}"
        token = request.query.get("continuation")
        offset = 0
        if token:
            saved = self.continuations.get(token)
            if saved is None or saved[0] != scope:
                return _error(400, "BAD_PAGE", "Unknown continuation token.")
            offset = saved[1]
        size = max(1, self.page_size)
        more = offset + size < len(items)
        pagination = {
            "object_count": len(items),
            "page_number": offset // size + 1,
            "page_size": size,
            "page_count": max(1, math.ceil(len(items) / size)),
            "has_more_items": more or self.repeat_continuation,
        }
        if self.repeat_continuation:
            self.continuations["stuck"] = (scope, offset)
            pagination["continuation"] = "stuck"
        elif more:
            next_token = secrets.token_urlsafe(12)
            self.continuations[next_token] = (scope, offset + size)
            pagination["continuation"] = next_token
        return Reply(
            200, {"pagination": pagination, key: items[offset : offset + size]}
        )


@pytest.fixture
def eventbrite_fake(settings):
    """A started EventbriteFake; the client's base URL points at it, unthrottled."""
    fake = EventbriteFake().start()
    settings.EVENTBRITE_API_BASE = fake.url + "/v3"
    settings.EVENTBRITE_RATE_LIMIT = "0"
    try:
        yield fake
    finally:
        fake.stop()
