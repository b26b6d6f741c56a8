"""A local fake of the slice of Billetweb's API we read, served over real HTTP.

It answers like billetweb.fr/api: auth in the query string (`user`, `key`), every
scalar a string, Europe/Paris wall-clock datetimes, whole lists (no pagination), and
errors as `{"error": ..., "description": ...}`. Those error objects are sent with
HTTP 200 by default (`error_status`): Billetweb's real status codes are unverified
and 200 is the case a client must get right from the body alone.

    from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401

    def test_something(billetweb_fake):
        event = billetweb_fake.add_event()
        date = billetweb_fake.add_date(event, quota=100)
        order = billetweb_fake.sell(event, date, 2)
        client = BilletwebClient(billetweb_fake.credentials, rate_key="t")
        ...
        assert billetweb_fake.calls("/attendees")[-1].query["session"] == date

Helpers take ints or strings and store strings. `update_date` and
`update_attendee` store values as given, so a test can send a field of the wrong
shape. Faults (latency, "500", "timeout", "html", ...) come from `FakePlatform`;
`rate_limiting = True` makes every answer Billetweb's limiter error;
`error_next(error, description)` makes the next one any error object.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.platforms.base import PlatformCredentials

from .base import FakePlatform, Reply, Request

PARIS = ZoneInfo("Europe/Paris")
FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_USER = "4242"
DEFAULT_KEY = "bw_fake_key_0123456789abcdef"
_ROUTE = re.compile(r"^/api/event/(?P<event>[^/]+)/(?P<what>dates|tickets|attendees)$")


def paris_now() -> str:
    return dt.datetime.now(PARIS).strftime(FORMAT)


def _unix(paris_text: str) -> int | None:
    try:
        moment = dt.datetime.strptime(paris_text, FORMAT).replace(tzinfo=PARIS)
    except (TypeError, ValueError):  # "0000-00-00 00:00:00", "" or a test's oddity
        return None
    return int(moment.timestamp())


class BilletwebFake(FakePlatform):
    name = "billetweb"

    def __init__(self, user: str = DEFAULT_USER, key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.user = user
        self.key = key
        self.error_status = 200
        self.rate_limiting = False
        self._errors_next: list[tuple[str, str]] = []
        self.events: dict[str, dict[str, Any]] = {}
        self.dates: dict[str, dict[str, dict[str, Any]]] = {}  # event -> id -> date
        self.rates: dict[str, dict[str, dict[str, Any]]] = {}  # event -> id -> rate
        self.attendees: dict[str, dict[str, Any]] = {}  # id -> row (any event)
        self._attendees_of: dict[str, list[str]] = {}  # event -> attendee ids
        self._ids = itertools.count(1000)
        self._state = threading.RLock()

    @property
    def credentials(self) -> PlatformCredentials:
        return PlatformCredentials(token=self.key, account_id=self.user)

    def _id(self) -> str:
        return str(next(self._ids))

    # -- state -------------------------------------------------------------------

    def add_event(
        self,
        event_id: str | int | None = None,
        *,
        name: str = "Concert",
        multiple: bool = True,
        start: str = "2026-06-20 20:00:00",
        end: str = "2026-06-20 23:00:00",
    ) -> str:
        """An event; multiple=False makes a single-session event (no dates)."""
        event_id = str(event_id or self._id())
        with self._state:
            self.events[event_id] = {
                "id": event_id,
                "ext_id": f"E{event_id}",
                "name": name,
                "start": start,
                "end": end,
                "multiple": "1" if multiple else "0",
                "place": "Salle des fêtes",
                "shop": f"https://www.billetweb.fr/shop.php?event={event_id}",
                "online": "1",
                "tags": [],
                "description": "",
                "image": "",
                "cover": "",
            }
            self.dates[event_id] = {}
            self.rates[event_id] = {}
        return event_id

    def add_date(
        self,
        event_id: str,
        date_id: str | int | None = None,
        quota: str | int | None = 100,
        total_sales: str | int = 0,
        *,
        start: str = "2026-06-20 20:00:00",
        end: str = "2026-06-20 23:00:00",
    ) -> str:
        """A session of a multi-session event; quota None is sent as ""."""
        date_id = str(date_id or self._id())
        with self._state:
            self.dates[event_id][date_id] = {
                "id": date_id,
                "start": start,
                "end": end,
                "name": "",
                "place": "",
                "description": "",
                "instructions": "",
                "disabled": "0",
                "last_update": paris_now(),
                "quota": "" if quota is None else str(quota),
                "total_sales": str(total_sales),
                "tickets": {},
            }
        return date_id

    def update_date(self, event_id: str, date_id: str, **fields: Any) -> None:
        with self._state:
            self.dates[event_id][date_id].update(fields, last_update=paris_now())

    def add_rate(
        self,
        event_id: str,
        rate_id: str | int | None = None,
        *,
        name: str = "Plein tarif",
        price: float = 10.0,
        quota: str | int | None = "",
    ) -> str:
        """A ticket rate (tarif); quota "" or None means none set."""
        rate_id = str(rate_id or self._id())
        with self._state:
            self.rates[event_id][rate_id] = {
                "id": rate_id,
                "name": name,
                "full_name": name,
                "price": price,  # a JSON number, as the spec says
                "category": "",
                "quota": "" if quota is None else str(quota),
                "visibility": "1",
                "start_time": "",
                "end_time": "",
                "tax": "",
                "commission": False,
            }
        return rate_id

    def add_attendee(
        self,
        event_id: str,
        date_id: str = "",
        *,
        order_id: str | int | None = None,
        ticket_id: str | None = None,
        firstname: str = "Camille",
        name: str = "Martin",
        email: str = "camille@example.fr",
        price: str = "10.00",
        order_price: str | None = None,
        order_date: str | None = None,
        last_update: str | None = None,
        disabled: str = "0",
    ) -> str:
        """One sold ticket; date_id "" for a single-session event (session "0")."""
        with self._state:
            if ticket_id is None:
                ticket_id = next(iter(self.rates[event_id]), None) or self.add_rate(
                    event_id
                )
            rate = self.rates[event_id].get(ticket_id, {"name": "Plein tarif"})
            attendee_id = self._id()
            order_id = str(order_id or self._id())
            now = paris_now()
            self.attendees[attendee_id] = {
                "id": attendee_id,
                "ext_id": f"T{attendee_id}",
                "barcode": str(4_000_000 + int(attendee_id)),
                "used": "0",
                "firstname": firstname,
                "name": name,
                "email": email,
                "ticket": rate["name"],
                "ticket_id": ticket_id,
                "category": "",
                "price": price,
                "last_update": last_update or now,
                "disabled": disabled,
                "order_id": order_id,
                "order_ext_id": f"C{order_id}",
                "order_email": email,
                "order_date": order_date or now,
                "order_paid": "1" if disabled == "0" else "0",
                "order_payment_type": "web",
                "order_price": order_price or price,
                "order_session": date_id or "0",
                "session_start": "",
                "custom": {},
                "_event": event_id,  # the fake's own bookkeeping, not sent
            }
            # Indexed so that a benchmark with many events stays fast.
            self._attendees_of.setdefault(event_id, []).append(attendee_id)
        return attendee_id

    def sell(
        self, event_id: str, date_id: str = "", n: int = 1, **attendee: Any
    ) -> str:
        """An order of n tickets; the date's total_sales grows by n. Returns the
        order id (pass order_id=... to choose it)."""
        with self._state:
            order_id = str(attendee.pop("order_id", None) or self._id())
            price = attendee.pop("price", "10.00")
            total = attendee.pop("order_price", f"{float(price) * n:.2f}")
            for _ in range(n):
                self.add_attendee(
                    event_id,
                    date_id,
                    order_id=order_id,
                    price=price,
                    order_price=total,
                    **attendee,
                )
            self._add_sales(event_id, date_id, n)
        return order_id

    def attendee_ids(self, order_id: str) -> list[str]:
        with self._state:
            return [
                a["id"] for a in self.attendees.values() if a["order_id"] == order_id
            ]

    def refund(self, attendee_id: str) -> None:
        """Billetweb keeps a refunded ticket with disabled "1". The fake also gives
        its place back to the date's total_sales (unverified on the real one)."""
        with self._state:
            row = self.attendees[attendee_id]
            if row["disabled"] == "1":
                return
            row.update(disabled="1", order_paid="0", last_update=paris_now())
            self._add_sales(row["_event"], row["order_session"], -1)

    def update_attendee(self, attendee_id: str, **fields: Any) -> None:
        with self._state:
            self.attendees[attendee_id].update(fields)

    def _add_sales(self, event_id: str, date_id: str, n: int) -> None:
        date = self.dates.get(event_id, {}).get(date_id)
        if date is not None:
            sold = max(0, int(date["total_sales"]) + n)
            date.update(total_sales=str(sold), last_update=paris_now())

    # -- HTTP ----------------------------------------------------------------------

    def error_next(self, error: str, description: str = "") -> None:
        """The next request answers this Billetweb error object."""
        with self._state:
            self._errors_next.append((error, description))

    def _error(self, error: str, description: str) -> Reply:
        return Reply(self.error_status, {"error": error, "description": description})

    def route(self, request: Request) -> Reply:
        query = request.query
        if query.get("user") != self.user or query.get("key") != self.key:
            return self._error("unauthorized", "Invalid user or key")
        with self._state:
            queued = self._errors_next.pop(0) if self._errors_next else None
        if queued:
            return self._error(*queued)
        if self.rate_limiting:
            return self._error(
                "rate_limiting",
                "You exceed the global rate limiter : 100 hits per minute",
            )
        if request.path == "/api/events":
            with self._state:
                return Reply(200, [dict(e) for e in self.events.values()])
        match = _ROUTE.match(request.path)
        if match is None:
            return Reply(404, b"Not found", {"Content-Type": "text/html"})
        event_id, what = match["event"], match["what"]
        with self._state:
            if event_id not in self.events:
                # Unverified what the real one says: a restricted key gets this.
                return self._error("unauthorized", "limited rights to specific events")
            if what == "dates":
                return Reply(200, self._dates(event_id, query))
            if what == "tickets":
                return Reply(200, [dict(r) for r in self.rates[event_id].values()])
            return Reply(200, self._attendees(event_id, query))

    def _dates(self, event_id: str, query: dict[str, str]) -> list[dict]:
        if self.events[event_id]["multiple"] != "1":
            return []
        now = dt.datetime.now(PARIS).timestamp()
        return [
            dict(date)
            for date in self.dates[event_id].values()
            if query.get("past") == "1" or (_unix(date["end"]) or now) >= now
        ]

    def _attendees(self, event_id: str, query: dict[str, str]) -> list[dict]:
        since = int(query["last_update"]) if "last_update" in query else None
        rows = []
        for attendee_id in self._attendees_of.get(event_id, ()):
            row = self.attendees[attendee_id]
            if "session" in query and row["order_session"] != query["session"]:
                continue
            if since is not None and (_unix(row["last_update"]) or 0) < since:
                continue
            rows.append({k: v for k, v in row.items() if not k.startswith("_")})
        return rows


@pytest.fixture
def billetweb_fake(settings):
    """A running fake Billetweb; `settings.BILLETWEB_API_BASE` points at it and the
    client-side rate limit is off."""
    fake = BilletwebFake().start()
    settings.BILLETWEB_API_BASE = fake.url + "/api"
    settings.BILLETWEB_RATE_LIMIT = "0"
    try:
        yield fake
    finally:
        fake.stop()
