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
import re
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from integrations.tests.fakes.base import FakePlatform, Reply, Request

CLIENT_ID = "XEROFAKECLIENTID0000000000000000"
CLIENT_SECRET = "xero-fake-client-secret"
WEBHOOK_KEY = "xero-fake-webhook-key"

ACCESS_SECONDS = 1800
MINUTE_LIMIT = 60
DAY_LIMIT = 5000
CONCURRENT_LIMIT = 5

TAX_RATES = [
    {"Name": "GST on Income", "TaxType": "OUTPUT", "EffectiveRate": 10.0},
    {"Name": "GST Free Income", "TaxType": "EXEMPTOUTPUT", "EffectiveRate": 0.0},
    {"Name": "Reduced rate", "TaxType": "TAX002", "EffectiveRate": 5.0},
    {"Name": "GST on Expenses", "TaxType": "INPUT", "EffectiveRate": 10.0},
    {"Name": "BAS Excluded", "TaxType": "BASEXCLUDED", "EffectiveRate": 0.0},
    {"Name": "No tax", "TaxType": "NONE", "EffectiveRate": 0.0},
]
ACCOUNTS = [
    {
        "AccountID": str(uuid.uuid5(uuid.NAMESPACE_URL, code)),
        "Code": code,
        "Name": name,
        "Type": kind,
        "Status": "ACTIVE",
    }
    for code, name, kind in [
        ("090", "Business Bank Account", "BANK"),
        ("200", "Sales", "REVENUE"),
        ("260", "Other Revenue", "REVENUE"),
        ("310", "Cost of Goods Sold", "DIRECTCOSTS"),
        ("400", "Advertising", "EXPENSE"),
    ]
]

_API = re.compile(
    r"^/api\.xro/2\.0/(?P<resource>\w+)(?:/(?P<id>[\w-]+))?(?:/(?P<sub>\w+))?$"
)
_CREATES = {"PUT", "POST"}


def xero_date(moment: dt.datetime) -> str:
    """Xero's JSON date: `/Date(<ms since epoch>+0000)/`."""
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _validation(messages: list[str], element: dict | None = None) -> Reply:
    return Reply(
        400,
        _jsonable(
            {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [
                    {
                        **(element or {}),
                        "ValidationErrors": [{"Message": m} for m in messages],
                    }
                ],
            }
        ),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)  # Xero sends JSON numbers
    return value


class XeroFake(FakePlatform):
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
            _money(amount),
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
        match = _API.match(path)
        if match:
            return self._accounting(request, **match.groupdict())
        return Reply(404, {"Title": "Not Found", "Status": 404})

    # -- identity ----------------------------------------------------------------

    def _authorize(self, request: Request) -> Reply:
        """The user consents at once: redirect to the app with a code and the state."""
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return Reply(400, {"error": "unauthorized_client"})
        if query.get("code_challenge_method") != "S256" or not query.get(
            "code_challenge"
        ):
            return Reply(400, {"error": "invalid_request", "error_description": "PKCE"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = dict(query)
        answer = urlencode({"code": code, "state": query.get("state", "")})
        location = f"{query['redirect_uri']}?{answer}"
        return Reply(302, b"", {"Location": location, "Content-Type": "text/plain"})

    def _client_ok(self, request: Request) -> bool:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _token(self, request: Request) -> Reply:
        if not self._client_ok(request):
            return Reply(400, {"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                return Reply(400, {"error": "invalid_grant"})
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
            if challenge.decode().rstrip("=") != asked.get("code_challenge"):
                return Reply(
                    400,
                    {"error": "invalid_grant", "error_description": "code_verifier"},
                )
        elif grant == "refresh_token":
            token = form.get("refresh_token", "")
            with self._state_lock:
                if token not in self.refresh_tokens:
                    return Reply(400, {"error": "invalid_grant"})
                self.refresh_tokens.discard(token)  # refresh tokens rotate
        else:
            return Reply(400, {"error": "unsupported_grant_type"})
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._state_lock:
            self.access_tokens[access] = self.clock() + ACCESS_SECONDS
            self.refresh_tokens.add(refresh)
        return Reply(
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": ACCESS_SECONDS,
                "token_type": "Bearer",
                "scope": "offline_access accounting.transactions accounting.contacts "
                "accounting.settings.read",
            },
        )

    def _revoke(self, request: Request) -> Reply:
        if not self._client_ok(request):
            return Reply(400, {"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        token = form.get("token", "")
        with self._state_lock:
            self.refresh_tokens.discard(token)
            self.revoked.append(token)
            self.access_tokens.clear()  # revoking ends the app's access
        return Reply(200, b"", {"Content-Type": "text/plain"})

    def _bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        expiry = self.access_tokens.get(token)
        return expiry is not None and expiry > self.clock()

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
        if request.method in _CREATES and key:
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
        if request.method in _CREATES and key and reply.status < 500:
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
            if method in _CREATES:
                return self._credit_note_write(request)
        if resource == "Payments" and method in _CREATES:
            return self._payment_write(request)
        return Reply(404, {"Title": "Not Found", "Status": 404})

    def _body(self, request: Request) -> Any:
        return json.loads(request.body, parse_float=Decimal) if request.body else {}

    def _today(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).date().isoformat()

    def _touch(self, document: dict) -> None:
        document["UpdatedDateUTC"] = xero_date(
            dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        )
        document["_updated"] = self.clock()

    @staticmethod
    def _public(document: dict) -> dict:
        return _jsonable({k: v for k, v in document.items() if not k.startswith("_")})

    def _contacts(self, request: Request) -> Reply:
        if request.method == "GET":
            where = request.query.get("where", "")
            match = re.fullmatch(r'ContactNumber=="(.*)"', where)
            found = [
                c
                for c in self.contacts.values()
                if match and c.get("ContactNumber") == match.group(1)
            ]
            return Reply(200, {"Contacts": [self._public(c) for c in found]})
        created = []
        for item in self._body(request).get("Contacts", []):
            name = (item.get("Name") or "").strip()
            if not name:
                return _validation(["The contact name must be specified."], item)
            if any(
                c["Name"] == name
                and c.get("ContactNumber") != item.get("ContactNumber")
                for c in self.contacts.values()
            ):
                return _validation(
                    [
                        f"The contact name {name} is already assigned to another "
                        "contact. "
                        "The contact name must be unique across all active contacts."
                    ],
                    item,
                )
            contact = {
                **item,
                "ContactID": str(uuid.uuid4()),
                "ContactStatus": "ACTIVE",
            }
            self._touch(contact)
            self.contacts[contact["ContactID"]] = contact
            created.append(self._public(contact))
        return Reply(200, {"Contacts": created})

    def _invoices_get(self, request: Request, id: str | None) -> Reply:
        if id:
            invoice = self.invoices.get(id)
            if invoice is None:
                return Reply(404, {"Title": "Not Found", "Status": 404})
            return Reply(200, {"Invoices": [self._public(invoice)]})
        since = request.headers.get("if-modified-since")
        found = list(self.invoices.values())
        if since:
            moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
            found = [i for i in found if i["_updated"] >= moment.timestamp()]
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("pageSize", "100"))
        found = found[(page - 1) * size : page * size]
        return Reply(200, {"Invoices": [self._public(i) for i in found]})

    def _lines(self, item: dict) -> tuple[list[dict], list[str]]:
        errors, lines = [], []
        codes = {a["Code"] for a in ACCOUNTS}
        types = {t["TaxType"] for t in TAX_RATES}
        for line in item.get("LineItems", []):
            if line.get("AccountCode") not in codes:
                errors.append(
                    f"Account code '{line.get('AccountCode')}' is not a valid code"
                    " for this document."
                )
            if line.get("TaxType") and line["TaxType"] not in types:
                errors.append(
                    f"The TaxType code '{line['TaxType']}' does not exist or "
                    "cannot be used for this type of transaction."
                )
            quantity, unit = (
                _money(line.get("Quantity", 1)),
                _money(line.get("UnitAmount", 0)),
            )
            amount = (quantity * unit).quantize(Decimal("0.01"))
            tax = _money(line.get("TaxAmount", 0))
            lines.append({**line, "LineAmount": amount, "TaxAmount": tax})
        return lines, errors

    def _totals(self, document: dict) -> None:
        lines = document["LineItems"]
        tax = sum((line["TaxAmount"] for line in lines), Decimal("0.00"))
        amounts = sum((line["LineAmount"] for line in lines), Decimal("0.00"))
        if document.get("LineAmountTypes") == "Inclusive":
            subtotal, total = amounts - tax, amounts
        elif document.get("LineAmountTypes") == "NoTax":
            subtotal, tax, total = amounts, Decimal("0.00"), amounts
        else:
            subtotal, total = amounts, amounts + tax
        document.update(SubTotal=subtotal, TotalTax=tax, Total=total)

    def _document(
        self, item: dict, kinds: set[str]
    ) -> tuple[dict | None, Reply | None]:
        errors = []
        if item.get("Type") not in kinds:
            errors.append(f"Type must be one of {sorted(kinds)}.")
        contact = self.contacts.get((item.get("Contact") or {}).get("ContactID", ""))
        if contact is None:
            errors.append("A Contact must be specified with this type of transaction.")
        lines, line_errors = self._lines(item)
        errors += line_errors
        if errors:
            return None, _validation(errors, item)
        document = {
            **item,
            "LineItems": lines,
            "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
        }
        self._totals(document)
        return document, None

    def _invoice_write(self, request: Request, id: str | None) -> Reply:
        results = []
        for item in self._body(request).get("Invoices", []):
            existing = self.invoices.get(item.get("InvoiceID") or id or "")
            if existing is not None:
                if item.get("Status") == "VOIDED":
                    if existing["AmountPaid"] > 0:
                        return _validation(
                            ["Invoice not of valid status for modification"], item
                        )
                    existing.update(Status="VOIDED", AmountDue=Decimal("0.00"))
                    self._touch(existing)
                results.append(self._public(existing))
                continue
            document, error = self._document(item, {"ACCREC", "ACCPAY"})
            if error:
                return error
            document.update(
                InvoiceID=str(uuid.uuid4()),
                InvoiceNumber=item.get("InvoiceNumber")
                or f"INV-{next(self._numbers):04d}",
                Status=item.get("Status", "DRAFT"),
                AmountPaid=Decimal("0.00"),
                AmountCredited=Decimal("0.00"),
                Payments=[],
                CreditNotes=[],
                HasErrors=False,
            )
            document["AmountDue"] = document["Total"]
            self._touch(document)
            self.invoices[document["InvoiceID"]] = document
            results.append(self._public(document))
        return Reply(200, {"Invoices": results})

    def _credit_note_write(self, request: Request) -> Reply:
        results = []
        for item in self._body(request).get("CreditNotes", []):
            document, error = self._document(item, {"ACCRECCREDIT", "ACCPAYCREDIT"})
            if error:
                return error
            document.update(
                CreditNoteID=str(uuid.uuid4()),
                CreditNoteNumber=item.get("CreditNoteNumber") or "",
                Status=item.get("Status", "DRAFT"),
                Allocations=[],
                Payments=[],
                HasErrors=False,
            )
            document["RemainingCredit"] = document["Total"]
            self._touch(document)
            self.credit_notes[document["CreditNoteID"]] = document
            results.append(self._public(document))
        return Reply(200, {"CreditNotes": results})

    def _allocate(self, request: Request, id: str | None) -> Reply:
        note = self.credit_notes.get(id or "")
        if note is None:
            return Reply(404, {"Title": "Not Found", "Status": 404})
        results = []
        for item in self._body(request).get("Allocations", []):
            invoice = self.invoices.get(
                (item.get("Invoice") or {}).get("InvoiceID", "")
            )
            amount = _money(item.get("Amount", 0))
            if (
                invoice is None
                or invoice["Contact"]["ContactID"] != note["Contact"]["ContactID"]
            ):
                return _validation(["The invoice must be for the same contact."], item)
            if amount <= 0 or amount > min(
                invoice["AmountDue"], note["RemainingCredit"]
            ):
                return _validation(
                    [
                        "The amount allocated must not exceed the remaining "
                        "credit or the amount due."
                    ],
                    item,
                )
            invoice["AmountDue"] -= amount
            invoice["AmountCredited"] += amount
            note["RemainingCredit"] -= amount
            if invoice["AmountDue"] == 0:
                invoice["Status"] = "PAID"
            if note["RemainingCredit"] == 0:
                note["Status"] = "PAID"
            allocation = {
                "AllocationID": str(uuid.uuid4()),
                "Amount": amount,
                "Date": item.get("Date"),
                "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            }
            note["Allocations"].append(allocation)
            invoice["CreditNotes"].append(
                {"CreditNoteID": note["CreditNoteID"], "AppliedAmount": amount}
            )
            self._touch(invoice)
            self._touch(note)
            results.append(_jsonable(allocation))
        return Reply(200, {"Allocations": results})

    def _payment_write(self, request: Request) -> Reply:
        body = self._body(request)
        items = body.get("Payments", [body] if "Amount" in body else [])
        results = []
        for item in items:
            account = item.get("Account") or {}
            if account.get("Code") not in {
                a["Code"] for a in ACCOUNTS if a["Type"] == "BANK"
            }:
                return _validation(
                    ["Account code must be a bank account or have payments enabled."],
                    item,
                )
            amount = _money(item.get("Amount", 0))
            invoice = self.invoices.get(
                (item.get("Invoice") or {}).get("InvoiceID", "")
            )
            note = self.credit_notes.get(
                (item.get("CreditNote") or {}).get("CreditNoteID", "")
            )
            if invoice is not None:
                if invoice["Status"] != "AUTHORISED" or amount > invoice["AmountDue"]:
                    return _validation(
                        [
                            "Payment amount exceeds the amount outstanding on "
                            "this document."
                        ],
                        item,
                    )
                results.append(
                    self._pay(
                        invoice,
                        amount,
                        account,
                        item.get("Date"),
                        item.get("Reference", ""),
                    )
                )
            elif note is not None:
                if amount > note["RemainingCredit"]:
                    return _validation(
                        [
                            "Payment amount exceeds the amount outstanding on "
                            "this document."
                        ],
                        item,
                    )
                note["RemainingCredit"] -= amount
                if note["RemainingCredit"] == 0:
                    note["Status"] = "PAID"
                payment = {
                    "PaymentID": str(uuid.uuid4()),
                    "Amount": amount,
                    "Date": item.get("Date"),
                    "Reference": item.get("Reference", ""),
                    "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
                    "Status": "AUTHORISED",
                }
                note["Payments"].append(payment)
                self._touch(note)
                self.payments[payment["PaymentID"]] = payment
                results.append(_jsonable(payment))
            else:
                return _validation(
                    ["An Invoice or CreditNote must be specified."], item
                )
        return Reply(200, {"Payments": results})

    def _pay(
        self,
        invoice: dict,
        amount: Decimal,
        account: dict,
        on: str | None,
        reference: str,
    ) -> dict:
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Amount": amount,
            "Date": on,
            "Reference": reference,
            "Account": account,
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Status": "AUTHORISED",
        }
        invoice["AmountPaid"] += amount
        invoice["AmountDue"] -= amount
        invoice["Payments"].append(
            {k: payment[k] for k in ("PaymentID", "Amount", "Date", "Reference")}
        )
        if invoice["AmountDue"] == 0:
            invoice["Status"] = "PAID"
        self._touch(invoice)
        self.payments[payment["PaymentID"]] = payment
        return _jsonable(payment)


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
