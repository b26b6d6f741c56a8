"""Calls to Xero: the identity service (tokens, connections) and the Accounting API.

Why not the `xero-python` SDK: it brings its own urllib3 client, so its calls would
bypass what every external call here goes through (`ticketing.lib.http`: timeouts,
the circuit breaker, call logs without secrets) and our per-tenant limiter, and its
token handling wants its own storage hooks. The API is plain JSON over HTTPS; this
module is the part of the SDK we need, on our HTTP client.

Clients never touch the ORM (services do). Amounts come back as `Decimal` (JSON
numbers parsed exactly), dates as aware datetimes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from ticketing.lib.http import (
    ExternalApi,
    ExternalAuthError,
    ExternalRejected,
    ExternalUnavailable,
    MalformedResponse,
)
from ticketing.lib.retry import is_retryable_status, retry_after_seconds

from .limiter import TenantLimiter

SCOPES = (
    "openid profile email offline_access accounting.transactions "
    "accounting.contacts accounting.settings.read"
)
_XERO_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


class XeroValidationError(ExternalRejected):
    """Xero refused the document: `messages` say why, in words for the organiser."""

    def __init__(self, messages: list[str], *, status: int = 400) -> None:
        self.messages = messages or ["Xero refused the document."]
        super().__init__("; ".join(self.messages), status=status)


@dataclass(frozen=True, slots=True)
class Tokens:
    access: str
    refresh: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    name: str


def parse_date(value: str | None) -> dt.datetime | None:
    """Xero's `/Date(1573755038314+0000)/` (or ISO) as an aware UTC datetime."""
    if not value:
        return None
    match = _XERO_DATE.fullmatch(value)
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC)
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _decode(response, what: str) -> Any:
    try:
        return json.loads(response.content or b"null", parse_float=Decimal)
    except ValueError as error:
        raise MalformedResponse(
            f"Xero answered {what} with a body that is not JSON",
            status=response.status_code,
        ) from error


def _validation_messages(body: Any) -> list[str]:
    messages: list[str] = []
    if isinstance(body, dict):
        for element in body.get("Elements") or []:
            for error in element.get("ValidationErrors") or []:
                if error.get("Message") and error["Message"] not in messages:
                    messages.append(error["Message"])
        if not messages and body.get("Message"):
            messages.append(str(body["Message"]))
    return messages


def _raise_for(response, what: str) -> None:
    status = response.status_code
    if is_retryable_status(status):
        problem = response.headers.get("X-Rate-Limit-Problem", "")
        raise ExternalUnavailable(
            f"Xero answered {status} to {what}"
            + (f" ({problem} limit)" if problem else ""),
            status=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status in (401, 403):
        raise ExternalAuthError(
            f"Xero refused the credentials ({status})", status=status
        )
    if status == 400:
        body = _decode(response, what)
        if isinstance(body, dict) and body.get("Type") == "ValidationException":
            raise XeroValidationError(_validation_messages(body))
        raise ExternalRejected(
            f"Xero answered 400 to {what}: {str(body)[:300]}", status=status
        )
    if status >= 300:
        raise ExternalRejected(f"Xero answered {status} to {what}", status=status)


# --- identity ---------------------------------------------------------------------


def authorize_url(*, state: str, challenge: str, redirect_uri: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.XERO_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{settings.XERO_LOGIN_BASE.rstrip('/')}/identity/connect/authorize?{query}"


def _identity() -> ExternalApi:
    basic = base64.b64encode(
        f"{settings.XERO_CLIENT_ID}:{settings.XERO_CLIENT_SECRET}".encode()
    ).decode()
    return ExternalApi(
        service="xero",
        base_url=settings.XERO_IDENTITY_BASE,
        rate_key="identity",
        rate_limit=None,
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        retries=0,
    )


def _token_call(form: dict[str, str]) -> Tokens:
    response = _identity().send("POST", "/connect/token", data=form)
    if response.status_code == 400:
        body = _decode(response, "the token request")
        error = body.get("error", "") if isinstance(body, dict) else ""
        raise ExternalAuthError(f"Xero refused the grant ({error})", status=400)
    _raise_for(response, "the token request")
    body = _decode(response, "the token request")
    try:
        return Tokens(
            access=body["access_token"],
            refresh=body["refresh_token"],
            expires_in=int(body["expires_in"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedResponse("Xero's token answer lacks a token") from error


def code_exchange(*, code: str, verifier: str, redirect_uri: str) -> Tokens:
    return _token_call(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
    )


def token_refresh(refresh_token: str) -> Tokens:
    """A new access token and a new refresh token (Xero rotates it: the old one is
    dead once this answers)."""
    return _token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})


def token_revoke(refresh_token: str) -> None:
    response = _identity().send(
        "POST", "/connect/revocation", data={"token": refresh_token}
    )
    _raise_for(response, "the revocation")


def connections(access_token: str) -> list[Tenant]:
    api = ExternalApi(
        service="xero",
        base_url=settings.XERO_API_BASE,
        rate_key="connections",
        rate_limit=None,
        headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
        },
        retries=0,
    )
    response = api.send("GET", "/connections")
    _raise_for(response, "GET /connections")
    body = _decode(response, "GET /connections")
    try:
        return [
            Tenant(item["tenantId"], item.get("tenantName") or item["tenantId"])
            for item in body
            if item.get("tenantType", "ORGANISATION") == "ORGANISATION"
        ]
    except (KeyError, TypeError) as error:
        raise MalformedResponse("Xero's connections lack a tenantId") from error


# --- accounting -------------------------------------------------------------------


class XeroApi:
    """The Accounting API of one tenant. Every call takes a slot of the tenant's
    limiter first; none is retried here (the outbox or the next reconcile does it,
    honouring Retry-After). Creates and updates carry an `Idempotency-Key`."""

    def __init__(self, *, access_token: str, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.limiter = TenantLimiter(tenant_id)
        # Xero's X-DayLimit-Remaining on the last answer that carried it.
        self.day_calls_left: int | None = None
        self.http = ExternalApi(
            service="xero",
            base_url=f"{settings.XERO_API_BASE.rstrip('/')}/api.xro/2.0/",
            rate_key=tenant_id,
            rate_limit=None,  # the tenant limiter below counts every call
            headers={
                "Authorization": f"Bearer {access_token}",
                "xero-tenant-id": tenant_id,
                "Accept": "application/json",
            },
            retries=0,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str = "",
        modified_since: dt.datetime | None = None,
    ) -> Any:
        headers = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key[:128]
        if modified_since is not None:
            headers["If-Modified-Since"] = modified_since.astimezone(dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        what = f"{method} /{path.split('/')[0]}"
        with self.limiter.slot():
            response = self.http.send(
                method, path, params=params, json=body, headers=headers
            )
        left = response.headers.get("X-DayLimit-Remaining", "")
        if left.isdigit():
            self.day_calls_left = int(left)
        _raise_for(response, what)
        return _decode(response, what)

    def tax_rates(self) -> list[dict]:
        rates = self.call("GET", "TaxRates").get("TaxRates", [])
        return [
            {
                "TaxType": rate["TaxType"],
                "Name": rate.get("Name", rate["TaxType"]),
                "EffectiveRate": str(rate.get("EffectiveRate", "")),
            }
            for rate in rates
            if rate.get("Status", "ACTIVE") == "ACTIVE"
        ]

    def accounts(self) -> list[dict]:
        accounts = self.call("GET", "Accounts").get("Accounts", [])
        return [
            {"Code": a["Code"], "Name": a.get("Name", ""), "Type": a.get("Type", "")}
            for a in accounts
            if a.get("Code") and a.get("Status", "ACTIVE") == "ACTIVE"
        ]

    def contact_find(self, contact_number: str) -> str | None:
        escaped = contact_number.replace('"', "")
        found = self.call(
            "GET", "Contacts", params={"where": f'ContactNumber=="{escaped}"'}
        ).get("Contacts", [])
        return found[0]["ContactID"] if found else None

    def _first(self, answer: Any, collection: str) -> dict:
        items = answer.get(collection) if isinstance(answer, dict) else None
        if not items:
            raise MalformedResponse(f"Xero's answer has no {collection}")
        item = items[0]
        if item.get("HasErrors") or item.get("ValidationErrors"):
            raise XeroValidationError(
                [e.get("Message", "") for e in item.get("ValidationErrors") or []]
            )
        return item

    def contact_create(self, contact: dict, *, key: str) -> str:
        answer = self.call(
            "PUT", "Contacts", body={"Contacts": [contact]}, idempotency_key=key
        )
        return self._first(answer, "Contacts")["ContactID"]

    def invoice_create(self, invoice: dict, *, key: str) -> dict:
        answer = self.call(
            "PUT",
            "Invoices",
            body={"Invoices": [invoice]},
            params={"summarizeErrors": "false"},
            idempotency_key=key,
        )
        return self._first(answer, "Invoices")

    def invoice_update(self, invoice_id: str, changes: dict, *, key: str) -> dict:
        answer = self.call(
            "POST",
            f"Invoices/{invoice_id}",
            body={"Invoices": [{"InvoiceID": invoice_id, **changes}]},
            idempotency_key=key,
        )
        return self._first(answer, "Invoices")

    def invoice_get(self, invoice_id: str) -> dict:
        return self._first(self.call("GET", f"Invoices/{invoice_id}"), "Invoices")

    def invoices_modified(self, since: dt.datetime | None, page: int) -> list[dict]:
        answer = self.call(
            "GET", "Invoices", params={"page": page}, modified_since=since
        )
        return answer.get("Invoices", [])

    def credit_note_create(self, note: dict, *, key: str) -> dict:
        answer = self.call(
            "PUT",
            "CreditNotes",
            body={"CreditNotes": [note]},
            params={"summarizeErrors": "false"},
            idempotency_key=key,
        )
        return self._first(answer, "CreditNotes")

    def allocation_create(self, note_id: str, allocation: dict, *, key: str) -> None:
        self.call(
            "PUT",
            f"CreditNotes/{note_id}/Allocations",
            body={"Allocations": [allocation]},
            idempotency_key=key,
        )

    def payment_create(self, payment: dict, *, key: str) -> str:
        answer = self.call(
            "PUT", "Payments", body={"Payments": [payment]}, idempotency_key=key
        )
        return self._first(answer, "Payments")["PaymentID"]
