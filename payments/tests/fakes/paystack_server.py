"""A local fake of the slice of Paystack's API we use, served over real HTTP.

`requests` talks to it exactly as to api.paystack.co: JSON bodies, a Bearer secret
key, and Paystack's envelope `{"status": true|false, "message": ..., "data": ...}`.
Tests drive what Paystack would do on its side (`succeed`, `fail`, `set_status`), inject
outages or odd answers (`fail_next`) and sign webhook events like Paystack
(`signed_event`). Every request is recorded in `requests`.

    from payments.tests.fakes.paystack_server import paystack_fake  # noqa: F401

    def test_something(paystack_fake):
        provider = PaystackProvider(Credentials(secret_key=paystack_fake.secret_key))
        ...
        assert paystack_fake.requests[-1].json["amount"] == 150000
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from .local_server import LocalServer

DEFAULT_SECRET = "sk_test_paystack_fake_0123456789"
PAID_AT = "2026-03-01T12:00:00.000Z"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    json: Any  # the decoded body (None if empty or not JSON)
    status: int = 0  # what the fake answered


@dataclass
class _Canned:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class PaystackFake:
    """State of the fake Paystack plus its HTTP server (see `start` / `stop`)."""

    def __init__(self, secret_key: str = DEFAULT_SECRET) -> None:
        self.secret_key = secret_key
        self.transactions: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[RecordedRequest] = []
        self._canned: list[_Canned] = []
        self._ids = itertools.count(4_100_000_001)
        self._lock = threading.Lock()
        self._local: LocalServer | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> PaystackFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._local = LocalServer(Handler, "paystack-fake")
        self.url = self._local.start()
        return self

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
        self._local = None

    # -- test controls -------------------------------------------------------

    def succeed(
        self,
        reference: str,
        amount: int | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """The buyer paid `reference` (optionally a different amount or currency,
        to test mismatches). Creates the transaction if it was never initialized."""
        with self._lock:
            transaction = self.transactions.get(reference)
            if transaction is None:
                transaction = self._new_transaction(
                    reference=reference,
                    amount=amount if amount is not None else 10000,
                    currency=currency or "NGN",
                    email="buyer@example.com",
                    callback_url="",
                    metadata={},
                )
            if amount is not None:
                transaction["amount"] = amount
            if currency is not None:
                transaction["currency"] = currency
            transaction.update(
                status="success",
                paid_at=PAID_AT,
                gateway_response="Successful",
                channel="card",
            )
            return copy.deepcopy(transaction)

    def fail(
        self, reference: str, gateway_response: str = "Declined"
    ) -> dict[str, Any]:
        """The buyer's charge failed: status "failed" with the bank's words in
        `gateway_response`, as verify and a `charge.failed` event carry them."""
        with self._lock:
            transaction = self.transactions[reference]
            transaction.update(
                status="failed", gateway_response=gateway_response, channel="card"
            )
            return copy.deepcopy(transaction)

    def set_status(self, reference: str, status: str) -> None:
        """Force a transaction's status ("failed", "reversed", "ongoing"...)."""
        with self._lock:
            self.transactions[reference]["status"] = status

    def fail_next(
        self,
        status: int = 503,
        *,
        message: str = "Service unavailable",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next request (whatever it is) gets `status` with Paystack's error
        envelope carrying `message`, or exactly `body` when given (e.g. an HTML
        page or a 200 without the envelope). Calls queue up, first in first out."""
        if body is None:
            raw = json.dumps({"status": False, "message": message}).encode()
        else:
            raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._canned.append(_Canned(status, raw, dict(headers or {})))

    @staticmethod
    def signed_event(
        event: str, data: dict[str, Any], secret: str
    ) -> tuple[bytes, str]:
        """A webhook body and its `x-paystack-signature` value, signed as Paystack
        does: lower-case hex HMAC-SHA512 of the raw body keyed with the secret key."""
        body = json.dumps({"event": event, "data": data}).encode()
        return body, hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- HTTP ----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        path = urlsplit(handler.path).path
        record = RecordedRequest(
            method=handler.command,
            path=path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=raw,
            json=decoded,
        )
        with self._lock:
            self.requests.append(record)
            canned = self._canned.pop(0) if self._canned else None
        if canned is not None:
            status, body, headers = canned.status, canned.body, canned.headers
        else:
            status, payload = self._route(handler.command, path, record)
            body, headers = json.dumps(payload).encode(), {}
        record.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _route(
        self, method: str, path: str, record: RecordedRequest
    ) -> tuple[int, dict[str, Any]]:
        if record.headers.get("authorization") != f"Bearer {self.secret_key}":
            return 401, _error("Invalid key")
        body = record.json if isinstance(record.json, dict) else {}
        with self._lock:
            if method == "POST" and path == "/transaction/initialize":
                return self._initialize(body)
            if method == "GET" and path.startswith("/transaction/verify/"):
                return self._verify(unquote(path.removeprefix("/transaction/verify/")))
            if method == "POST" and path == "/refund":
                return self._refund(body)
        return 404, _error("Not found")

    # -- endpoints (called with the lock held) --------------------------------

    def _initialize(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        email, amount = body.get("email"), _amount(body.get("amount"))
        if not email or amount is None or amount <= 0:
            return 400, _error("Invalid amount or email", validation=True)
        reference = str(body.get("reference") or f"fake{next(self._ids)}")
        if reference in self.transactions:
            return 400, _error("Duplicate Transaction Reference")
        transaction = self._new_transaction(
            reference=reference,
            amount=amount,
            currency=str(body.get("currency") or "NGN"),
            email=email,
            callback_url=body.get("callback_url") or "",
            metadata=body.get("metadata") or {},
        )
        access_code = f"ac_{transaction['id']}"
        return 200, {
            "status": True,
            "message": "Authorization URL created",
            "data": {
                "authorization_url": f"https://checkout.paystack.com/{access_code}",
                "access_code": access_code,
                "reference": reference,
            },
        }

    def _verify(self, reference: str) -> tuple[int, dict[str, Any]]:
        transaction = self.transactions.get(reference)
        if transaction is None:
            return 400, _error("Transaction reference not found")
        return 200, {
            "status": True,
            "message": "Verification successful",
            "data": copy.deepcopy(transaction),
        }

    def _refund(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = str(body.get("transaction") or "")
        transaction = self.transactions.get(key) or next(
            (t for t in self.transactions.values() if str(t["id"]) == key), None
        )
        if transaction is None:
            return 404, _error("Transaction not found")
        if transaction["status"] != "success":
            return 400, _error("Cannot refund a transaction that is not successful")
        remaining = transaction["amount"] - transaction["refunded"]
        amount = remaining if body.get("amount") is None else _amount(body["amount"])
        if amount is None or amount <= 0:
            return 400, _error("Invalid refund amount", validation=True)
        if amount > remaining:
            return 400, _error(
                "Refund amount cannot be more than the unrefunded balance "
                "of the transaction"
            )
        currency = body.get("currency") or transaction["currency"]
        if currency != transaction["currency"]:
            return 400, _error("Currency does not match the transaction")
        transaction["refunded"] += amount
        refund = {
            "id": next(self._ids),
            "transaction": {
                "id": transaction["id"],
                "reference": transaction["reference"],
                "amount": transaction["amount"],
                "currency": transaction["currency"],
            },
            "amount": amount,
            "deducted_amount": 0,
            "currency": currency,
            "channel": transaction["channel"],
            "merchant_note": body.get("merchant_note") or "",
            "customer_note": body.get("customer_note") or "",
            "status": "pending",
            "fully_deducted": False,
            "domain": "test",
        }
        self.refunds.append(refund)
        return 200, {
            "status": True,
            "message": "Refund has been queued for processing",
            "data": copy.deepcopy(refund),
        }

    def _new_transaction(self, **fields: Any) -> dict[str, Any]:
        transaction = {
            "id": next(self._ids),
            "domain": "test",
            "status": "abandoned",
            "reference": fields["reference"],
            "amount": fields["amount"],
            "currency": fields["currency"],
            "paid_at": None,
            "channel": "card",
            "gateway_response": "The transaction was not completed",
            "fees": None,
            "metadata": fields["metadata"],
            "callback_url": fields["callback_url"],
            "customer": {"email": fields["email"], "customer_code": "CUS_fake"},
            "authorization": {
                "authorization_code": "AUTH_fake_secret",
                "bin": "408408",
                "last4": "4081",
                "bank": "TEST BANK",
                "reusable": True,
            },
            "refunded": 0,  # the fake's own bookkeeping
        }
        self.transactions[fields["reference"]] = transaction
        return transaction


def _error(message: str, *, validation: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"status": False, "message": message, "meta": {}}
    if validation:
        body.update(type="validation_error", code="invalid_params")
    return body


def _amount(value: Any) -> int | None:
    """Paystack takes the amount as an int or a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@pytest.fixture
def paystack_fake(settings):
    """A running fake Paystack; `settings.PAYSTACK_API_BASE` points at it."""
    fake = PaystackFake().start()
    settings.PAYSTACK_API_BASE = fake.url
    try:
        yield fake
    finally:
        fake.stop()
