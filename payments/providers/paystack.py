"""Paystack over its REST API (https://api.paystack.co), through the shared HTTP
client (`ticketing.lib.http`).

Wire facts this module relies on (see docs/specs external-apis.md section 5):

- Every answer is an envelope `{"status": true, "message": "...", "data": {...}}`;
  errors carry `"status": false` and a `message`. An answer that is not this
  envelope, or lacks a field we use, raises a typed ProviderError, never KeyError.
- Amounts are integer subunits (kobo, pesewas, cents): the same integer as our minor
  units, so nothing is converted. Paystack sometimes sends amounts as digit strings;
  both are accepted on the way in, ints are always sent.
- There is no Idempotency-Key: a transaction's `reference` is unique per integration
  and is our idempotency (`PaymentRequest.attempt_reference`). Initializing a
  reference twice answers 400 "Duplicate Transaction Reference".
- There is no cancel for a transaction: an unpaid one is marked "abandoned" and
  simply never completes once the checkout page expires.
- Webhooks carry `x-paystack-signature`: lower-case hex HMAC-SHA512 of the raw body
  keyed with the secret API key (there is no separate webhook secret), no timestamp
  and no event id.

Calls go through the shared client (`ticketing.lib.http.ExternalApi`): the
`(connect, read)` timeout from `settings.PAYMENT_HTTP_TIMEOUT`, the circuit breaker
for "paystack", one log line per call without the key. No method retries, not even
a GET (these run inside buyers' requests; tasks retry). Keys are never logged or put
in error messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from django.conf import settings

from ticketing.lib.http import (
    CircuitOpen,
    ExternalApi,
    ExternalTimeout,
    ExternalUnavailable,
)
from ticketing.lib.http_errors import MalformedResponse
from ticketing.lib.retry import is_retryable_status, retry_after_seconds

from .base import (
    EventKind,
    PaymentProvider,
    PaymentRequest,
    PaymentStarted,
    PaymentState,
    ProviderAuthError,
    ProviderError,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    WebhookSignatureError,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-paystack-signature"
SERVICE = "paystack"  # the shared HTTP client's breaker and log name

# Paystack transaction status -> ours. "abandoned" is PENDING, not CANCELED: Paystack
# marks a transaction abandoned as soon as the buyer leaves (or has not yet finished)
# the checkout page, and the buyer can still come back and pay it on the same page
# until it expires. Our own hold expiry is what cancels an attempt
# (`cancel_payment`), and a late "success" must still be recognised.
_PAYMENT_STATES = {
    "success": PaymentState.SUCCEEDED,
    "failed": PaymentState.FAILED,
    "reversed": PaymentState.FAILED,
    "abandoned": PaymentState.PENDING,
    "ongoing": PaymentState.PENDING,
    "pending": PaymentState.PENDING,
    "processing": PaymentState.PENDING,
    "queued": PaymentState.PENDING,
}
# Attempts that a buyer can still complete on the checkout page already issued.
_OPEN_STATUSES = frozenset({"abandoned", "ongoing", "pending", "processing", "queued"})

_CHARGE_EVENTS = {
    "charge.success": EventKind.PAYMENT_SUCCEEDED,
    "charge.failed": EventKind.PAYMENT_FAILED,
}
_REFUND_EVENTS = frozenset(
    {
        "refund.pending",
        "refund.processing",
        "refund.processed",
        "refund.failed",
        "refund.needs-attention",
    }
)
_REFUND_STATES = {"processed": "succeeded", "failed": "failed"}  # else pending

# Paystack references: alphanumerics plus "-", "." and "=".
_REFERENCE_RE = re.compile(r"^[A-Za-z0-9.=-]{1,100}$")
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
# How many references `start_payment` tries for one attempt (the attempt's own plus
# "<reference>.r2" ... ) before giving up; see its docstring.
_MAX_REFERENCES = 5
_MAX_ATTEMPT_REFERENCE = 96
_DUPLICATE_REFERENCE = "duplicate transaction reference"


class PaystackProvider(PaymentProvider):
    """Paystack for one organiser's secret key. Cheap to build: the pooled session
    is shared by every organiser (the key travels per call)."""

    identifier = "paystack"

    def _api(self) -> ExternalApi:
        # Built per call (it is cheap) so that the settings in force are used.
        return ExternalApi(
            service=SERVICE,
            base_url=settings.PAYSTACK_API_BASE,
            rate_key="",
            rate_limit=None,
            headers={
                "Authorization": f"Bearer {self.credentials.secret_key}",
                "Accept": "application/json",
                "User-Agent": "ticketing-payments/1 (+paystack)",
            },
            timeout=tuple(settings.PAYMENT_HTTP_TIMEOUT),
            retries=0,
        )

    # -- payments ------------------------------------------------------------

    def start_payment(
        self, request: PaymentRequest, existing_reference: str = ""
    ) -> PaymentStarted:
        """Initialize a Paystack transaction for `request`; redirect the buyer to
        `PaymentStarted.redirect_url` (Paystack's `authorization_url`).

        The reference is `request.attempt_reference`. Paystack cannot re-initialize
        a reference nor change a transaction's amount, and offers no idempotency
        key, so reuse works like this:

        - A different `existing_reference` (an older attempt) is left alone: it
          cannot be amended or cancelled, it is abandoned once its page expires.
          A new transaction is initialized under `request.attempt_reference`.
        - When Paystack answers "Duplicate Transaction Reference" (the caller is
          replaying the same attempt, or an earlier call timed out after Paystack
          had created it), the reference is verified. It is reused when it is
          still open (abandoned/ongoing/pending...) with the same amount and
          currency and the caller already knows it (`existing_reference` equals
          it): the answer is PENDING with an empty `redirect_url` (verify does not
          return the checkout URL; keep the stored one). It is also returned when
          it already succeeded for the same amount and currency (SUCCEEDED).
        - Otherwise (amount or currency changed, the attempt failed, or the
          caller never got its checkout URL) the next derived reference
          `"<attempt_reference>.r2"`, `".r3"`... is tried the same way, up to
          five references in all, so replays converge on the same transaction.
          The returned `provider_reference` is then the derived one.

        Raises ProviderUnavailable, ProviderAuthError or ProviderRejected.
        """
        _check_request(request)
        candidates = [request.attempt_reference] + [
            f"{request.attempt_reference}.r{n}" for n in range(2, _MAX_REFERENCES + 1)
        ]
        for reference in candidates:
            try:
                return self._initialize(request, reference)
            except ProviderRejected as error:
                if isinstance(error, ProviderAuthError) or not _is_duplicate(error):
                    raise
            reused = self._reuse(request, reference, existing_reference)
            if reused is not None:
                return reused
        raise ProviderRejected(
            f"Paystack: the references {candidates[0]!r} to {candidates[-1]!r} are all "
            "used by transactions that cannot be reused; start a new attempt."
        )

    def _initialize(self, request: PaymentRequest, reference: str) -> PaymentStarted:
        metadata: dict[str, Any] = {
            "booking_reference": request.booking_reference,
            "attempt_reference": reference,
            "description": request.description,
            **request.metadata,
        }
        payload = {
            "email": request.buyer_email,
            "amount": int(request.amount_minor),
            "currency": request.currency.upper(),
            "reference": reference,
            "callback_url": request.return_url,
            "metadata": metadata,
        }
        data = self._call(
            "POST", "/transaction/initialize", json_body=payload, action="initialize"
        )
        url = _str_field(data, "authorization_url", "initialize")
        answered = data.get("reference", reference)
        if answered != reference:
            raise ProviderUnavailable(
                f"Paystack initialize answered for reference {answered!r}, "
                f"not {reference!r}."
            )
        return PaymentStarted(
            provider_reference=reference,
            status=PaymentState.PENDING,
            redirect_url=url,
            raw=_redacted(data),
        )

    def _reuse(
        self, request: PaymentRequest, reference: str, existing_reference: str
    ) -> PaymentStarted | None:
        payment = self.verify_payment(reference)
        status = str(payment.raw.get("status", "")).lower()
        same_charge = (
            payment.amount_minor == request.amount_minor
            and payment.currency == request.currency.upper()
        )
        if not same_charge:
            return None
        if payment.status == PaymentState.SUCCEEDED:
            return PaymentStarted(
                provider_reference=reference,
                status=PaymentState.SUCCEEDED,
                raw=payment.raw,
            )
        if status in _OPEN_STATUSES and reference == existing_reference:
            return PaymentStarted(
                provider_reference=reference,
                status=PaymentState.PENDING,
                raw=payment.raw,
            )
        return None

    def verify_payment(self, provider_reference: str) -> ProviderPayment:
        """GET /transaction/verify/{reference}. Read-only, safe to repeat.

        "success" is SUCCEEDED, "failed"/"reversed" FAILED, anything else
        (abandoned, ongoing, pending, processing, queued, or a status unknown to
        this module) PENDING. The caller must still compare amount and currency
        with what it charged before fulfilling."""
        _check_reference(provider_reference)
        data = self._call(
            "GET",
            f"/transaction/verify/{quote(provider_reference, safe='')}",
            action="verify",
        )
        reference = _str_field(data, "reference", "verify")
        if reference != provider_reference:
            raise ProviderUnavailable(
                f"Paystack verify answered for reference {reference!r}, "
                f"not {provider_reference!r}."
            )
        status = _str_field(data, "status", "verify").lower()
        state = _PAYMENT_STATES.get(status, PaymentState.PENDING)
        gateway_response = data.get("gateway_response")
        failed = state == PaymentState.FAILED and isinstance(gateway_response, str)
        return ProviderPayment(
            provider_reference=reference,
            status=state,
            amount_minor=_int_field(data, "amount", "verify"),
            currency=_currency_field(data, "verify"),
            raw=_redacted(data),
            failure_code=status if state == PaymentState.FAILED else "",
            failure_message=gateway_response[:300] if failed else "",
        )

    def cancel_payment(self, provider_reference: str) -> None:
        """A no-op: Paystack has no way to cancel a transaction. An unpaid one stays
        abandoned and its checkout page expires; if the buyer still pays it, the
        charge.success webhook and verification report it and settlement decides
        (refund or late confirmation). No HTTP call is made."""
        return None

    def refund(
        self,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        """POST /refund for `amount_minor` of the transaction `provider_reference`
        (partial or full). Paystack queues it: the answer is normally "pending"
        and refund.* webhooks follow.

        NOT idempotent: Paystack has no idempotency key, so `idempotency_key` is
        unused. A timeout (ProviderUnavailable) may hide a refund that was queued,
        and so may a 2xx answer that cannot be read (MalformedResponse, not
        retryable): `refund_issue` keeps such a refund pending for the webhook."""
        _check_reference(provider_reference)
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
            raise ProviderRejected("Paystack refund: the amount must be an integer.")
        if amount_minor <= 0:
            raise ProviderRejected("Paystack refund: the amount must be positive.")
        if not _CURRENCY_RE.match(currency or ""):
            raise ProviderRejected(f"Paystack refund: invalid currency {currency!r}.")
        payload = {
            "transaction": provider_reference,
            "amount": amount_minor,
            "currency": currency.upper(),
            "merchant_note": (reason or "")[:500],
        }
        data = self._call(
            "POST",
            "/refund",
            json_body=payload,
            action="refund",
            unreadable=MalformedResponse,
        )
        refund_id = data.get("id")
        if refund_id in (None, "") or isinstance(refund_id, bool | dict | list):
            raise MalformedResponse(
                "Paystack refund answered without a refund id; the refund may have "
                "been queued: check the dashboard before retrying."
            )
        status = str(data.get("status") or "pending").lower()
        amount = _optional_int(data.get("amount"))
        answered_currency = data.get("currency")
        return ProviderRefund(
            provider_refund_id=str(refund_id),
            provider_reference=provider_reference,
            amount_minor=amount if amount is not None else amount_minor,
            currency=(
                answered_currency.upper()
                if isinstance(answered_currency, str) and answered_currency
                else currency.upper()
            ),
            status=_REFUND_STATES.get(status, "pending"),
            raw=_redacted(data),
        )

    # -- webhooks ------------------------------------------------------------

    @classmethod
    def webhook_body_to_store(cls, body: bytes) -> str:
        try:
            payload = json.loads(body)
        except ValueError:
            return body.decode("utf-8", errors="replace")
        return json.dumps(_redacted(payload))

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify `x-paystack-signature` (any header-name case) over the raw body
        with the secret key, then map the event.

        charge.success -> PAYMENT_SUCCEEDED; charge.failed -> PAYMENT_FAILED (not
        in Paystack's documented list, but sent by some integrations; settlement
        verifies it either way); refund.pending / processing /
        processed / failed / needs-attention -> REFUND_UPDATED; charge.dispute.create
        -> DISPUTE_OPENED; everything else IGNORED. A correctly signed body that
        is not `{"event": str, "data": {...}}`, or an event lacking the fields we
        need, is IGNORED too (it is stored, and Paystack gets its 200).

        `event_id`: Paystack sends none, so it is derived as
        `"{event}:{ident}:{data.status}"` where ident is `data.id`, else
        `data.refund_reference` (refund events) or `data.reference`, else
        `"sha256-<first 32 hex of the body's SHA-256>"`. It is stable across
        Paystack's redeliveries (same body) and differs per status change.
        Refund events: `provider_refund_id` is `data.id` (the id POST /refund
        answered) when present, else `data.refund_reference`."""
        self._check_signature(body, headers)
        body_hash = hashlib.sha256(body).hexdigest()[:32]
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("event"), str)
            or not isinstance(payload.get("data"), dict)
        ):
            return ProviderEvent(
                event_id=f"malformed:sha256-{body_hash}",
                kind=EventKind.IGNORED,
                provider_type=str(payload.get("event", ""))[:100]
                if isinstance(payload, dict)
                else "",
            )
        name: str = payload["event"]
        data: dict[str, Any] = payload["data"]
        event_id = _event_id(name, data, body_hash)
        raw = _redacted(payload)
        ignored = ProviderEvent(
            event_id=event_id, kind=EventKind.IGNORED, provider_type=name, raw=raw
        )

        if name in _CHARGE_EVENTS:
            reference = data.get("reference")
            if not isinstance(reference, str) or not reference:
                return ignored
            currency = data.get("currency")
            return ProviderEvent(
                event_id=event_id,
                kind=_CHARGE_EVENTS[name],
                provider_type=name,
                provider_reference=reference,
                amount_minor=_optional_int(data.get("amount")),
                currency=currency.upper() if isinstance(currency, str) else "",
                occurred_at=_parse_time(data.get("paid_at") or data.get("paidAt")),
                raw=raw,
            )

        if name in _REFUND_EVENTS:
            reference = data.get("transaction_reference")
            if not reference and isinstance(data.get("transaction"), dict):
                reference = data["transaction"].get("reference")
            amount = _optional_int(data.get("amount"))
            currency = data.get("currency")
            refund_id = data.get("id") or data.get("refund_reference")
            if (
                not isinstance(reference, str)
                or not reference
                or amount is None
                or not isinstance(currency, str)
                or not currency
            ):
                return ignored
            status = str(data.get("status") or name.split(".", 1)[1]).lower()
            refund = ProviderRefund(
                provider_refund_id=str(refund_id) if refund_id else "",
                provider_reference=reference,
                amount_minor=amount,
                currency=currency.upper(),
                status=_REFUND_STATES.get(status, "pending"),
                raw=raw["data"],
            )
            return ProviderEvent(
                event_id=event_id,
                kind=EventKind.REFUND_UPDATED,
                provider_type=name,
                provider_reference=reference,
                amount_minor=amount,
                currency=currency.upper(),
                refund=refund,
                occurred_at=_parse_time(
                    data.get("updatedAt") or data.get("updated_at")
                ),
                raw=raw,
            )

        if name == "charge.dispute.create":
            transaction = data.get("transaction")
            reference = (
                transaction.get("reference") if isinstance(transaction, dict) else None
            ) or data.get("transaction_reference")
            currency = data.get("currency")
            return ProviderEvent(
                event_id=event_id,
                kind=EventKind.DISPUTE_OPENED,
                provider_type=name,
                provider_reference=reference if isinstance(reference, str) else "",
                amount_minor=_optional_int(data.get("refund_amount")),
                currency=currency.upper() if isinstance(currency, str) else "",
                occurred_at=_parse_time(
                    data.get("createdAt") or data.get("created_at")
                ),
                raw=raw,
            )

        return ignored

    def _check_signature(self, body: bytes, headers: dict[str, str]) -> None:
        signature = next(
            (
                value
                for name, value in headers.items()
                if isinstance(name, str) and name.lower() == SIGNATURE_HEADER
            ),
            None,
        )
        if not isinstance(signature, str) or not signature.strip():
            raise WebhookSignatureError("Missing x-paystack-signature header.")
        secret = self.credentials.secret_key
        if not secret:
            raise WebhookSignatureError(
                "No Paystack secret key to check the signature."
            )
        expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
        given = signature.strip().lower().encode("utf-8", errors="replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise WebhookSignatureError("The x-paystack-signature does not match.")

    # -- HTTP ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json_body: dict[str, Any] | None = None,
        unreadable: type[ProviderError] = ProviderUnavailable,
    ) -> dict[str, Any]:
        """One request; returns the envelope's `data` object or raises.

        `unreadable` is what a 2xx answer that is not the envelope raises:
        ProviderUnavailable (retry is safe) unless the call is not idempotent."""
        try:
            response = self._api().send(method, path, json=json_body)
        except CircuitOpen:
            raise
        except ExternalTimeout as error:
            raise ProviderUnavailable(f"Paystack {action}: timed out.") from error
        except ExternalUnavailable as error:
            raise ProviderUnavailable(
                f"Paystack {action}: network error ({error})."
            ) from error
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = ""
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            message = payload["message"][:300]
        detail = f"Paystack {action}: HTTP {status}" + (
            f": {message}" if message else ""
        )

        if is_retryable_status(status):
            raise ProviderUnavailable(
                detail,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise ProviderAuthError(detail, status=status)
        if not 200 <= status < 300:
            raise ProviderRejected(detail, status=status)
        if not isinstance(payload, dict) or not isinstance(payload.get("status"), bool):
            raise unreadable(
                f"Paystack {action}: HTTP {status} with a body that is not the JSON "
                "envelope.",
                status=status,
            )
        if payload["status"] is not True:
            raise ProviderRejected(detail, status=status)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise unreadable(
                f"Paystack {action}: the answer has no `data` object.", status=status
            )
        return data


# -- helpers -------------------------------------------------------------------


def _check_request(request: PaymentRequest) -> None:
    _check_reference(request.attempt_reference)
    if len(request.attempt_reference) > _MAX_ATTEMPT_REFERENCE:
        # Derived references append ".rN" and must stay valid.
        raise ProviderRejected(
            f"Paystack: attempt reference longer than {_MAX_ATTEMPT_REFERENCE}."
        )
    amount = request.amount_minor
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ProviderRejected("Paystack: the amount must be a positive integer.")
    if not _CURRENCY_RE.match(request.currency or ""):
        raise ProviderRejected(f"Paystack: invalid currency {request.currency!r}.")
    if not request.buyer_email:
        raise ProviderRejected("Paystack needs the buyer's email address.")


def _check_reference(reference: str) -> None:
    if not isinstance(reference, str) or not _REFERENCE_RE.match(reference):
        raise ProviderRejected(
            f"Paystack: invalid reference {reference!r} (letters, digits, '-', '.', "
            "'=' only)."
        )


def _is_duplicate(error: ProviderError) -> bool:
    return error.status == 400 and _DUPLICATE_REFERENCE in str(error).lower()


def _str_field(data: dict[str, Any], name: str, action: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderUnavailable(f"Paystack {action}: the answer lacks `{name}`.")
    return value


def _int_field(data: dict[str, Any], name: str, action: str) -> int:
    value = _optional_int(data.get(name))
    if value is None:
        raise ProviderUnavailable(
            f"Paystack {action}: `{name}` is missing or not an integer."
        )
    return value


def _currency_field(data: dict[str, Any], action: str) -> str:
    value = data.get("currency")
    if not isinstance(value, str) or not _CURRENCY_RE.match(value):
        raise ProviderUnavailable(f"Paystack {action}: `currency` is missing.")
    return value.upper()


def _optional_int(value: Any) -> int | None:
    """An integer amount, from an int or a digit string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _event_id(name: str, data: dict[str, Any], body_hash: str) -> str:
    ident = data.get("id")
    if ident in (None, "") and name in _REFUND_EVENTS:
        ident = data.get("refund_reference")
    if ident in (None, ""):
        ident = data.get("reference")
    if ident in (None, "") or isinstance(ident, dict | list | bool):
        ident = f"sha256-{body_hash}"
    status = data.get("status")
    key = f"{name}:{ident}:{status if isinstance(status, str) else ''}"
    if len(key) > 200:  # WebhookDelivery.event_id is 200 characters
        key = f"{name[:60]}:sha256-{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _redacted(value: Any) -> Any:
    """A copy without `authorization_code` (a reusable token to charge the card)."""
    if isinstance(value, dict):
        return {
            key: ("[redacted]" if key == "authorization_code" else _redacted(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value
