"""Paystack webhooks: the `x-paystack-signature` check (HMAC-SHA512 of the raw body
with the secret key), the mapping of charge, refund and dispute events to
`ProviderEvent`, the derived event id (Paystack sends none) and the redacted body
we store. Apart because it reads bodies Paystack pushes to us, not answers to our
calls; a mixin of `PaystackProvider` (it needs its `credentials`) so the code
moved unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from ..base import (
    EventKind,
    ProviderEvent,
    ProviderRefund,
    WebhookSignatureError,
)
from .mapping import _REFUND_STATES, _optional_int, _redacted

SIGNATURE_HEADER = "x-paystack-signature"

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


class PaystackWebhooks:
    """Mixin of `PaystackProvider`: webhook bodies checked with
    `self.credentials.secret_key` and mapped."""

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
