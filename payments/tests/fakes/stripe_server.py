"""A local fake of the slice of Stripe's API we use, served over real HTTP.

The SDK talks to it exactly as to api.stripe.com: form-encoded POSTs with
`metadata[key]=value`, a Bearer (or Basic) secret key, an `Idempotency-Key` header,
JSON answers and Stripe's error JSON. Tests drive what Stripe would do on its side
(`succeed`, `fail`, `set_status`), inject outages (`fail_next`) and sign webhook
events (`signed_event`). Every request is recorded in `requests`, counted in `calls`.
Stripe Connect (accounts, Account Links, `Stripe-Account`, destination charges,
transfers and their reversals) is in `stripe_connect.py`, Products and Prices per
account in `stripe_catalog.py`.

    def test_something(stripe_fake):
        provider = StripeProvider(Credentials(secret_key=stripe_fake.secret_key))
        ...
        assert stripe_fake.calls["payment_intents.create"] == 1
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from .local_server import LocalServer
from .stripe_catalog import CatalogFake
from .stripe_connect import ConnectFake

API_VERSION = "2026-10-28.endive"
OPEN_STATUSES = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE_STATUSES = (*OPEN_STATUSES, "requires_capture")


@dataclass
class RecordedRequest:
    operation: str  # e.g. "payment_intents.create"; "unknown" for other routes
    method: str
    path: str
    params: dict[str, Any]  # form body (or query) decoded, brackets nested
    headers: dict[str, str]  # header names lower-cased
    status: int = 0  # what the fake answered

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body = {"error": {"type": error_type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


@dataclass
class _Failure:
    status: int
    error_type: str
    code: str | None
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[a]=1&items[0][x]=2` → {"metadata": {"a": "1"}, "items": {"0": …}}.
    Values stay strings, as on the wire."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeFake(ConnectFake, CatalogFake):
    """State and behaviour; the HTTP layer is `_Handler`. Thread-safe."""

    error = StripeError

    def __init__(
        self,
        secret_key: str = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc",
        webhook_secret: str = "whsec_test_fake_secret",
        connect_webhook_secret: str = "whsec_test_fake_connect_secret",
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.calls: Counter[str] = Counter()
        self._idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self._delays: list[float] = []
        self._clock = itertools.count(int(time.time()))
        self._lock = threading.RLock()
        self._local: LocalServer | None = None
        self._url = ""
        self._init_connect(connect_webhook_secret)
        self._init_catalog()
        # Seconds every answer waits (outside the lock: requests overlap), for benches.
        self.latency = 0.0

    # Lifecycle

    def start(self) -> StripeFake:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._local = LocalServer(handler, "stripe-fake")
        self._url = self._local.start()
        return self

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
        self._local = None

    @property
    def url(self) -> str:
        """Base address for `settings.STRIPE_API_BASE` (no /v1)."""
        assert self._local is not None, "StripeFake is not started"
        return self._url

    # Test controls

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        error_type: str | None = None,
        code: str | None = None,
        message: str = "",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` requests with `status` before doing anything (so
        nothing is stored, not even under an idempotency key), with Stripe's error
        JSON. 429 gets code `rate_limit`; `retry_after` adds a Retry-After header."""
        if error_type is None:
            error_type = "api_error" if status >= 500 else "invalid_request_error"
        if code is None and status == 429:
            code = "rate_limit"
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        failure = _Failure(
            status, error_type, code, message or f"Injected {status}", headers
        )
        with self._lock:
            self._failures.extend([failure] * times)

    def slow_next(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before answering the next `times` requests (timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def succeed(self, pi_id: str, amount_received: int | None = None) -> dict:
        """The buyer paid: status `succeeded`, a charge, `amount_received` (the full
        amount unless given)."""
        with self._lock:
            intent = self._intent(pi_id)
            intent["status"] = "succeeded"
            intent["amount_received"] = (
                intent["amount"] if amount_received is None else amount_received
            )
            intent["latest_charge"] = intent["latest_charge"] or _id("ch")
            intent["last_payment_error"] = None
            self._pay_destination(intent)
            return copy.deepcopy(intent)

    def fail(
        self,
        pi_id: str,
        code: str = "card_declined",
        decline_code: str | None = "generic_decline",
        message: str = "Your card was declined.",
    ) -> dict:
        """The buyer's payment failed: back to `requires_payment_method` with a
        `last_payment_error`, as Stripe does (e.g. `decline_code="insufficient_funds",
        message="Your card has insufficient funds."`; a failed 3-D Secure check is
        `code="payment_intent_authentication_failure", decline_code=None`)."""
        with self._lock:
            intent = self._intent(pi_id)
            intent["status"] = "requires_payment_method"
            error = {"type": "card_error", "code": code, "message": message}
            if decline_code:
                error["decline_code"] = decline_code
            intent["last_payment_error"] = error
            return copy.deepcopy(intent)

    def set_status(self, pi_id: str, status: str) -> dict:
        """Force any status (e.g. `processing`, `requires_action`)."""
        with self._lock:
            intent = self._intent(pi_id)
            intent["status"] = status
            return copy.deepcopy(intent)

    def payment_intent(self, pi_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._intent(pi_id))

    def charge(self, pi_id: str) -> dict:
        """The Charge of a succeeded PaymentIntent, as in `charge.refunded`
        (refunds expanded, newest first)."""
        with self._lock:
            intent = self._intent(pi_id)
            refunds = sorted(
                (r for r in self.refunds.values() if r["payment_intent"] == pi_id),
                key=lambda r: r["created"],
                reverse=True,
            )
            return {
                "id": intent["latest_charge"],
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount_received"],
                "amount_refunded": intent["amount_refunded"],
                "currency": intent["currency"],
                "payment_intent": pi_id,
                "paid": intent["status"] == "succeeded",
                "refunded": intent["amount_refunded"] >= intent["amount_received"] > 0,
                "refunds": {
                    "object": "list",
                    "data": copy.deepcopy(refunds),
                    "has_more": False,
                    "url": f"/v1/charges/{intent['latest_charge']}/refunds",
                },
                "created": intent["created"],
                "livemode": False,
                **self._charge_connect_fields(intent),
            }

    def last(self, operation: str) -> RecordedRequest:
        """The most recent recorded request for `operation`."""
        with self._lock:
            for request in reversed(self.requests):
                if request.operation == operation:
                    return request
        raise LookupError(f"No {operation} request recorded")

    def signed_event(
        self,
        event_type: str,
        obj: dict[str, Any],
        secret: str | None = None,
        timestamp: int | None = None,
        account: str | None = None,
    ) -> tuple[bytes, str]:
        """A webhook delivery: the event JSON body and its `Stripe-Signature` header
        `t=<unix>,v1=hex(HMAC-SHA256(secret, f"{t}.{body}"))`, signed with `secret`
        (default: this fake's `webhook_secret`) at `timestamp` (default: now). With
        `account`, an event of that connected account, as a Connect endpoint gets it
        (top-level `account`; default secret: `connect_webhook_secret`)."""
        if secret is None:
            secret = self.connect_webhook_secret if account else self.webhook_secret
        timestamp = int(time.time()) if timestamp is None else timestamp
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": timestamp,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": _id("req"), "idempotency_key": None},
            "type": event_type,
        }
        if account:
            event["account"] = account
        body = json.dumps(event).encode()
        return body, self.sign(body, secret, timestamp)

    @staticmethod
    def sign(body: bytes, secret: str, timestamp: int) -> str:
        payload = f"{timestamp}.".encode() + body
        digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    # HTTP side (called by the handler)

    def handle(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        operation, route_args = _route(method, path)
        record = RecordedRequest(operation, method, path, params, headers)
        with self._lock:
            self.requests.append(record)
            self.calls[operation] += 1
            delay = self._delays.pop(0) if self._delays else self.latency
        if delay:
            time.sleep(delay)
        with self._lock:
            status, body, extra = self._answer(
                operation, route_args, method, path, params, headers
            )
            record.status = status
            return status, body, extra

    def _answer(self, operation, route_args, method, path, params, headers):
        if self._failures:
            failure = self._failures.pop(0)
            error = StripeError(
                failure.status,
                failure.message,
                error_type=failure.error_type,
                code=failure.code,
                headers=failure.headers,
            )
            return error.status, error.body, error.headers
        try:
            self._authenticate(headers)
            account = self._acting_account(headers)
        except StripeError as error:
            return error.status, error.body, error.headers
        key = headers.get("idempotency-key") if method == "POST" else None
        # Keys are the account's own: the same key on two accounts is two requests.
        scoped_key = f"{account}:{key}"
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        if key is not None and scoped_key in self._idempotency:
            stored_fingerprint, status, body = self._idempotency[scoped_key]
            if stored_fingerprint != fingerprint:
                error = StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with. Try using a key other "
                    "than '" + key + "' if you meant to execute a different request.",
                    error_type="idempotency_error",
                )
                return error.status, error.body, {}
            return status, copy.deepcopy(body), {"Idempotent-Replayed": "true"}
        try:
            status, body = self._execute(operation, route_args, params, account)
        except StripeError as error:
            status, body = error.status, error.body
        # Like Stripe, keep only results of requests that went through; a request
        # refused by validation may be sent again, fixed, under the same key.
        if key is not None and status < 400:
            self._idempotency[scoped_key] = (fingerprint, status, copy.deepcopy(body))
        extra = {"Idempotency-Key": key} if key is not None else {}
        return status, body, extra

    def _authenticate(self, headers: dict[str, str]) -> None:
        authorization = headers.get("authorization", "")
        given = ""
        if authorization.startswith("Bearer "):
            given = authorization[len("Bearer ") :]
        elif authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[len("Basic ") :]).decode()
            except ValueError:
                decoded = ""
            given = decoded.split(":", 1)[0]
        if not given:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key "
                "in the Authorization header, using Bearer auth.",
            )
        if not hmac.compare_digest(given.encode(), self.secret_key.encode()):
            masked = f"{given[:8]}{'*' * max(len(given) - 12, 0)}{given[-4:]}"
            raise StripeError(401, f"Invalid API Key provided: {masked}")

    def _execute(self, operation, route_args, params, account=""):
        if operation == "payment_intents.create":
            return 200, self._create_intent(params, account)
        if operation == "payment_intents.retrieve":
            return 200, copy.deepcopy(self._intent(route_args[0], account))
        if operation == "payment_intents.update":
            return 200, self._update_intent(route_args[0], params, account)
        if operation == "payment_intents.cancel":
            return 200, self._cancel_intent(route_args[0], params, account)
        if operation == "refunds.create":
            return 200, self._create_refund(params, account)
        catalog = self._execute_catalog(operation, route_args, params, account)
        if catalog is not None:
            return catalog
        return self._execute_connect(operation, route_args, params, account)

    # Operations

    def _intent(self, pi_id: str, account: str | None = None) -> dict[str, Any]:
        """A PaymentIntent, as seen by `account` ("" the platform; None: the test,
        which sees every account's)."""
        try:
            if account is not None and not self._visible(pi_id, account):
                raise KeyError(pi_id)
            return self.payment_intents[pi_id]
        except KeyError:
            raise StripeError(
                404,
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param="intent",
            ) from None

    def _create_intent(self, params: dict[str, Any], account: str) -> dict[str, Any]:
        amount = _positive_int(params, "amount")
        currency = _currency(params)
        connect = self._destination_fields(params, amount, account)
        pi_id = _id("pi")
        automatic = params.get("automatic_payment_methods") or {}
        intent = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "amount_refunded": 0,  # not Stripe's: kept here to check refunds
            "automatic_payment_methods": (
                {"enabled": automatic.get("enabled") == "true"} if automatic else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic"),
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(12)}",
            "created": next(self._clock),
            "currency": currency,
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "receipt_email": params.get("receipt_email"),
            "status": "requires_payment_method",
            **connect,
        }
        self.payment_intents[pi_id] = intent
        self._own(pi_id, account)
        return copy.deepcopy(intent)

    def _update_intent(
        self, pi_id: str, params: dict[str, Any], account: str
    ) -> dict[str, Any]:
        intent = self._intent(pi_id, account)
        if intent["status"] not in OPEN_STATUSES:
            raise StripeError(
                400,
                "This PaymentIntent's amount could not be updated because it has a "
                f"status of {intent['status']}. You may only update the amount of a "
                "PaymentIntent with one of the following statuses: "
                + ", ".join(OPEN_STATUSES)
                + ".",
                code="payment_intent_unexpected_state",
            )
        if "amount" in params:
            intent["amount"] = _positive_int(params, "amount")
        if "currency" in params:
            intent["currency"] = _currency(params)
        self._update_fee(intent, params)
        if "description" in params:
            intent["description"] = params["description"] or None
        for key, value in (params.get("metadata") or {}).items():
            if value == "":
                intent["metadata"].pop(key, None)
            else:
                intent["metadata"][key] = value
        return copy.deepcopy(intent)

    def _cancel_intent(
        self, pi_id: str, params: dict[str, Any], account: str
    ) -> dict[str, Any]:
        intent = self._intent(pi_id, account)
        if intent["status"] not in CANCELABLE_STATUSES:
            raise StripeError(
                400,
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following "
                "statuses may be canceled: " + ", ".join(CANCELABLE_STATUSES) + ".",
                code="payment_intent_unexpected_state",
            )
        reason = params.get("cancellation_reason")
        allowed = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
        if reason is not None and reason not in allowed:
            raise StripeError(
                400,
                f"Invalid cancellation_reason: must be one of {', '.join(allowed)}",
                code="parameter_invalid_string",
                param="cancellation_reason",
            )
        intent["status"] = "canceled"
        intent["cancellation_reason"] = reason
        intent["canceled_at"] = next(self._clock)
        return copy.deepcopy(intent)

    def _create_refund(self, params: dict[str, Any], account: str) -> dict[str, Any]:
        pi_id = params.get("payment_intent")
        if not pi_id:
            raise StripeError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        intent = self._intent(pi_id, account)
        if intent["status"] != "succeeded":
            raise StripeError(
                400,
                f"This PaymentIntent ({pi_id}) does not have a successful charge to "
                "refund.",
                code="charge_not_refundable",
            )
        remaining = intent["amount_received"] - intent["amount_refunded"]
        amount = _positive_int(params, "amount") if "amount" in params else remaining
        if amount > remaining:
            code = "charge_already_refunded" if remaining == 0 else "amount_too_large"
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on "
                f"charge ({remaining})",
                code=code,
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise StripeError(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or "
                "requested_by_customer",
                code="parameter_invalid_string",
                param="reason",
            )
        refund_id = _id("re")
        connect = self._refund_destination(intent, amount, params, refund_id)
        intent["amount_refunded"] += amount
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": next(self._clock),
            "currency": intent["currency"],
            "metadata": dict(params.get("metadata") or {}),
            "payment_intent": pi_id,
            "reason": reason,
            "status": "succeeded",
            **connect,
        }
        self.refunds[refund["id"]] = refund
        self._own(refund["id"], account)
        return copy.deepcopy(refund)


def _positive_int(params: dict[str, Any], name: str) -> int:
    raw = params.get(name)
    if raw is None:
        raise StripeError(
            400,
            f"Missing required param: {name}.",
            code="parameter_missing",
            param=name,
        )
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value <= 0:
        raise StripeError(
            400,
            f"Invalid positive integer: {name}",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def _currency(params: dict[str, Any]) -> str:
    raw = params.get("currency")
    if not raw:
        raise StripeError(
            400,
            "Missing required param: currency.",
            code="parameter_missing",
            param="currency",
        )
    if not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise StripeError(
            400,
            f"Invalid currency: {raw}.",
            code="parameter_invalid_string",
            param="currency",
        )
    return raw.lower()


_ROUTES = [
    ("POST", re.compile(r"/v1/payment_intents"), "payment_intents.create"),
    ("GET", re.compile(r"/v1/payment_intents/([^/]+)"), "payment_intents.retrieve"),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)"), "payment_intents.update"),
    (
        "POST",
        re.compile(r"/v1/payment_intents/([^/]+)/cancel"),
        "payment_intents.cancel",
    ),
    ("POST", re.compile(r"/v1/refunds"), "refunds.create"),
    ("POST", re.compile(r"/v1/accounts"), "accounts.create"),
    ("GET", re.compile(r"/v1/accounts/([^/]+)"), "accounts.retrieve"),
    ("POST", re.compile(r"/v1/account_links"), "account_links.create"),
    ("GET", re.compile(r"/v1/transfers/([^/]+)"), "transfers.retrieve"),
    ("GET", re.compile(r"/v1/application_fees/([^/]+)"), "application_fees.retrieve"),
    ("POST", re.compile(r"/v1/products"), "products.create"),
    ("GET", re.compile(r"/v1/products/([^/]+)"), "products.retrieve"),
    ("POST", re.compile(r"/v1/products/([^/]+)"), "products.update"),
    ("POST", re.compile(r"/v1/prices"), "prices.create"),
    ("GET", re.compile(r"/v1/prices/([^/]+)"), "prices.retrieve"),
    ("POST", re.compile(r"/v1/prices/([^/]+)"), "prices.update"),
]


def _route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    for route_method, pattern, operation in _ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match:
            return operation, match.groups()
    return "unknown", ()


class _Handler(BaseHTTPRequestHandler):
    fake: StripeFake
    server_version = "stripe-fake"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        if self.command == "GET" and url.path.startswith("/setup/"):
            return self._account_link(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        source = raw if self.command == "POST" else url.query
        params = decode_form(parse_qsl(source, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, body, extra = self.fake.handle(self.command, url.path, params, headers)
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _id("req"))
            self.send_header("Stripe-Version", API_VERSION)
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out
            pass

    def _account_link(self, path: str) -> None:
        """Stripe's hosted onboarding, reduced to where it sends the browser."""
        location = self.fake.visit_link(path)
        self.send_response(302 if location else 404)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def stripe_fake(settings):
    """A started StripeFake; settings.STRIPE_API_BASE points at it for the test."""
    fake = StripeFake().start()
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = fake.connect_webhook_secret
    try:
        yield fake
    finally:
        fake.stop()
