"""A local fake of Xero (identity, connections and the Accounting API), over real HTTP.

Shapes follow section 6 of shared/specs/external-apis.md: OAuth 2 authorization code
with PKCE (S256) and rotating refresh tokens, `GET /connections`, the
`xero-tenant-id` header, amounts as decimal major units, dates in Xero's
`/Date(ms+0000)/` form, `Idempotency-Key` (the same key answers the same response and
changes nothing), the rate-limit headers, 429 with `Retry-After` and
`X-Rate-Limit-Problem`, 400 `ValidationException` bodies, and signed webhooks.

One fake serves the three hosts (login, identity, api): point XERO_LOGIN_BASE,
XERO_IDENTITY_BASE and XERO_API_BASE at `fake.url`.

It also checks the limits it is given: every accounting call is timed on `clock`
(tests may pass a simulated one) and counted per tenant, so a test can read the most
calls seen in any 60 s (`max_calls_in_any_minute`) and the most at once
(`max_concurrent`). Over the limits it answers 429 as Xero would.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from integrations.tests.fakes.base import FakePlatform, Reply, Request

from .xero_books import BooksMixin
from .xero_identity import IdentityMixin
from .xero_wire import (
    ACCOUNTS,
    API_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    CONCURRENT_LIMIT,
    CREATES,
    DAY_LIMIT,
    MINUTE_LIMIT,
    TAX_RATES,
    WEBHOOK_KEY,
    money,
)


class XeroFake(IdentityMixin, BooksMixin, FakePlatform):
    name = "xero"

    def __init__(self) -> None:
        super().__init__()
        self.clock = time.time
        self.call_seconds = 0.0  # time each accounting call spends "in Xero"
        self.tenants = {
            str(uuid.uuid4()): "Demo Company (AU)",
            str(uuid.uuid4()): "Second Books Ltd",
        }
        self.codes: dict[str, dict] = {}  # authorization code -> its request
        self.access_tokens: dict[str, float] = {}  # token -> expiry (clock)
        self.refresh_tokens: set[str] = set()
        self.revoked: list[str] = []
        self.contacts: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.credit_notes: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.idempotent: dict[tuple[str, str], Reply] = {}
        self.key_uses: Counter[str] = Counter()  # Idempotency-Key -> calls carrying it
        self.call_times: dict[str, list[float]] = defaultdict(list)
        self.in_flight: Counter[str] = Counter()
        self.max_concurrent = 0
        self.rejected_for_limits = 0
        self._rate_limit_next: list[tuple[str, int]] = []
        self._numbers = itertools.count(1)
        self._state_lock = threading.Lock()

    @property
    def tenant_id(self) -> str:
        return next(iter(self.tenants))

    # -- what tests drive --------------------------------------------------------

    def rate_limit_next(self, problem: str = "minute", retry_after: int = 7) -> None:
        """The next accounting call answers 429 (`problem`: minute, day, concurrent)."""
        self._rate_limit_next.append((problem, retry_after))

    def expire_access_tokens(self) -> None:
        with self._state_lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0

    def max_calls_in_any_minute(self, tenant_id: str) -> int:
        times = sorted(self.call_times[tenant_id])
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 60:
                start += 1
            best = max(best, end - start + 1)
        return best

    def pay_in_xero(
        self,
        invoice_id: str,
        amount: Decimal | str,
        account: str = "090",
        on: str | None = None,
    ) -> dict:
        """Someone records a payment in Xero itself (not through the API)."""
        invoice = self.invoices[invoice_id]
        return self._pay(
            invoice,
            money(amount),
            {"Code": account},
            on or self._today(),
            "Paid in Xero",
        )

    def void_in_xero(self, invoice_id: str) -> None:
        invoice = self.invoices[invoice_id]
        invoice["Status"] = "VOIDED"
        invoice["AmountDue"] = Decimal("0.00")
        self._touch(invoice)

    def webhook_body(
        self,
        resource_ids: list[str],
        *,
        tenant_id: str | None = None,
        category: str = "INVOICE",
        event_type: str = "UPDATE",
    ) -> bytes:
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        events = [
            {
                "resourceUrl": f"{self.url}/api.xro/2.0/Invoices/{rid}",
                "resourceId": rid,
                "eventDateUtc": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                "eventType": event_type,
                "eventCategory": category,
                "tenantId": tenant_id or self.tenant_id,
                "tenantType": "ORGANISATION",
            }
            for rid in resource_ids
        ]
        return json.dumps(
            {
                "events": events,
                "firstEventSequence": 1,
                "lastEventSequence": len(events),
                "entropy": secrets.token_hex(10),
            }
        ).encode()

    @staticmethod
    def sign(body: bytes, key: str = WEBHOOK_KEY) -> str:
        digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    # -- routing -----------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        path = request.path
        if path == "/identity/connect/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == "/connect/token" and request.method == "POST":
            return self._token(request)
        if path == "/connect/revocation" and request.method == "POST":
            return self._revoke(request)
        if path == "/connections" and request.method == "GET":
            if not self._bearer_ok(request):
                return Reply(401, {"Title": "Unauthorized", "Status": 401})
            return Reply(
                200,
                [
                    {
                        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, tid)),
                        "tenantId": tid,
                        "tenantType": "ORGANISATION",
                        "tenantName": name,
                    }
                    for tid, name in self.tenants.items()
                ],
            )
        match = API_PATH.match(path)
        if match:
            return self._accounting(request, **match.groupdict())
        return Reply(404, {"Title": "Not Found", "Status": 404})

    # -- accounting --------------------------------------------------------------

    def _accounting(
        self, request: Request, resource: str, id: str | None, sub: str | None
    ) -> Reply:
        if not self._bearer_ok(request):
            return Reply(
                401,
                {
                    "Type": None,
                    "Title": "Unauthorized",
                    "Status": 401,
                    "Detail": "AuthenticationUnsuccessful",
                },
            )
        tenant = request.headers.get("xero-tenant-id", "")
        if tenant not in self.tenants:
            return Reply(
                403,
                {
                    "Type": None,
                    "Title": "Forbidden",
                    "Status": 403,
                    "Detail": "AuthorizationUnsuccessful",
                },
            )
        key = request.headers.get("idempotency-key", "")
        if request.method in CREATES and key:
            with self._state_lock:
                self.key_uses[key] += 1
                replay = self.idempotent.get((tenant, key))
            if replay is not None:
                return replay
        limited = self._over_limits(tenant)
        if limited is not None:
            return limited
        try:
            if self.call_seconds:
                time.sleep(self.call_seconds)
            reply = self._resource(request, resource, id, sub)
        finally:
            with self._state_lock:
                self.in_flight[tenant] -= 1
        reply.headers.update(self._limit_headers(tenant))
        if request.method in CREATES and key and reply.status < 500:
            with self._state_lock:
                self.idempotent[(tenant, key)] = reply
        return reply

    def _over_limits(self, tenant: str) -> Reply | None:
        now = self.clock()
        with self._state_lock:
            problem = self._rate_limit_next.pop(0) if self._rate_limit_next else None
            times = self.call_times[tenant]
            times.append(now)
            in_minute = sum(1 for t in times if now - t < 60)
            in_day = sum(1 for t in times if now - t < 86400)
            self.in_flight[tenant] += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight[tenant])
            if problem is None:
                if self.in_flight[tenant] > CONCURRENT_LIMIT:
                    problem = ("concurrent", 1)
                elif in_minute > MINUTE_LIMIT:
                    problem = ("minute", 60)
                elif in_day > DAY_LIMIT:
                    problem = ("day", 3600)
            if problem is None:
                return None
            self.in_flight[tenant] -= 1
            self.rejected_for_limits += 1
        return Reply(
            429,
            {"Title": "Too Many Requests", "Status": 429},
            {"Retry-After": str(problem[1]), "X-Rate-Limit-Problem": problem[0]},
        )

    def _limit_headers(self, tenant: str) -> dict[str, str]:
        now = self.clock()
        times = self.call_times[tenant]
        return {
            "X-MinLimit-Remaining": str(
                max(0, MINUTE_LIMIT - sum(1 for t in times if now - t < 60))
            ),
            "X-DayLimit-Remaining": str(
                max(0, DAY_LIMIT - sum(1 for t in times if now - t < 86400))
            ),
            "X-AppMinLimit-Remaining": "9999",
        }

    def _resource(
        self, request: Request, resource: str, id: str | None, sub: str | None
    ) -> Reply:
        method = request.method
        if resource == "TaxRates" and method == "GET":
            return Reply(
                200, {"TaxRates": [{**r, "Status": "ACTIVE"} for r in TAX_RATES]}
            )
        if resource == "Accounts" and method == "GET":
            return Reply(200, {"Accounts": ACCOUNTS})
        if resource == "Contacts":
            return self._contacts(request)
        if resource == "Invoices":
            if method == "GET":
                return self._invoices_get(request, id)
            return self._invoice_write(request, id)
        if resource == "CreditNotes":
            if sub == "Allocations" and method == "PUT":
                return self._allocate(request, id)
            if method in CREATES:
                return self._credit_note_write(request)
        if resource == "Payments" and method in CREATES:
            return self._payment_write(request)
        return Reply(404, {"Title": "Not Found", "Status": 404})


@pytest.fixture
def xero_fake(settings):
    """A running fake with the settings pointed at it."""
    fake = XeroFake().start()
    settings.XERO_CLIENT_ID = CLIENT_ID
    settings.XERO_CLIENT_SECRET = CLIENT_SECRET
    settings.XERO_WEBHOOK_KEY = WEBHOOK_KEY
    settings.XERO_LOGIN_BASE = fake.url
    settings.XERO_IDENTITY_BASE = fake.url
    settings.XERO_API_BASE = fake.url
    yield fake
    fake.stop()
