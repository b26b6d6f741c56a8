"""Stripe PaymentIntents through the official SDK (`stripe.StripeClient`).

Stripe already counts in minor units, and counts zero-decimal currencies (JPY, KRW…)
in whole units, which is what our minor units are for them: amounts pass through
unchanged. Currencies go out lower-case and come back upper-case.

The SDK never retries here (`max_network_retries=0`): retries live in the tasks.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

import stripe
from django.conf import settings

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

WEBHOOK_TOLERANCE = 300  # seconds; Stripe's own default

# The buyer can still pay these, and their amount can still change.
OPEN_STATUSES = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action"}
)
# Money is moving or has moved: never replaced by a second PaymentIntent, or the
# buyer could pay twice. Returned as they are.
BUSY_STATUSES = frozenset({"processing", "requires_capture", "succeeded"})

_PAYMENT_STATES = {
    "succeeded": PaymentState.SUCCEEDED,
    "canceled": PaymentState.CANCELED,
}
_REFUND_STATES = {
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
# Our refund reasons are free text; Stripe only takes these three.
_REFUND_REASONS = {
    "duplicate": "duplicate",
    "fraudulent": "fraudulent",
    "fraud": "fraudulent",
    "requested_by_customer": "requested_by_customer",
    "customer_request": "requested_by_customer",
    "requested_by_buyer": "requested_by_customer",
}
_PAYMENT_EVENTS = {
    "payment_intent.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": EventKind.PAYMENT_FAILED,
    "payment_intent.canceled": EventKind.PAYMENT_CANCELED,
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})


def payment_state(status: str) -> str:
    """Stripe PaymentIntent status → PaymentState. Everything not final is PENDING
    (`verify_payment` also reads `last_payment_error`; see there)."""
    return _PAYMENT_STATES.get(status, PaymentState.PENDING)


def _declined(intent: dict[str, Any]) -> dict[str, Any] | None:
    """The error of an attempt that failed: Stripe puts a PaymentIntent back to
    `requires_payment_method` with `last_payment_error` after a declined card or a
    failed 3-D Secure check."""
    error = intent.get("last_payment_error")
    if intent.get("status") == "requires_payment_method" and isinstance(error, dict):
        return error
    return None


def refund_state(status: str) -> str:
    return _REFUND_STATES.get(status or "", "pending")


@functools.cache
def _http_client(timeout: tuple[float, float]) -> stripe.HTTPClient:
    # One client per process (its requests sessions are per thread) so connections
    # are kept alive across provider instances.
    return stripe.RequestsClient(timeout=timeout)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    return retry_after_seconds(_header(headers, "Retry-After"))


def _provider_error(exc: stripe.StripeError) -> ProviderError:
    """Map an SDK error to ours. The message is Stripe's, which never holds a key in
    clear (it masks it as sk_test_****1234)."""
    status = exc.http_status
    message = f"Stripe: {exc.user_message or type(exc).__name__}"
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderAuthError(message, status=status)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return ProviderUnavailable(
            message, status=status, retry_after=_retry_after(exc.headers)
        )
    if isinstance(
        exc, stripe.CardError | stripe.InvalidRequestError | stripe.IdempotencyError
    ):
        return ProviderRejected(message, status=status)
    if isinstance(exc, stripe.APIError):
        # The shared rule (no answer, 429, 5xx), plus two Stripe documents as
        # passing: 409 (concurrent use of an idempotency key, or a lock timeout) and
        # 424 (a dependency failed) clear up on a retry with the same key.
        if is_retryable_status(status) or status in (409, 424):
            return ProviderUnavailable(
                message, status=status, retry_after=_retry_after(exc.headers)
            )
    return ProviderRejected(message, status=status)


def _destination_params(request: PaymentRequest) -> dict[str, Any]:
    """A destination charge's parameters (Stripe Connect), none for any other."""
    destination = request.destination
    if destination is None:
        return {}
    params: dict[str, Any] = {"transfer_data": {"destination": destination.account}}
    if destination.application_fee_minor:
        params["application_fee_amount"] = destination.application_fee_minor
    if destination.on_behalf_of:
        params["on_behalf_of"] = destination.account
    return params


def _to_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj or {})


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


class StripeProvider(PaymentProvider):
    """One organiser's Stripe account, through PaymentIntents.

    `start_payment` is idempotent on `request.idempotency_key` (sent as Stripe's
    `Idempotency-Key`): the key must change whenever the amount or currency does,
    or Stripe answers `idempotency_error` (ProviderRejected). Updates and cancels
    set absolute values and need no key of ours.
    """

    identifier = "stripe"
    refunds_are_idempotent = True  # the Idempotency-Key header

    @functools.cached_property
    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            self.credentials.secret_key,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,
            http_client=_http_client(tuple(settings.PAYMENT_HTTP_TIMEOUT)),
        )

    # Payments

    def start_payment(
        self, request: PaymentRequest, existing_reference: str = ""
    ) -> PaymentStarted:
        """Create a PaymentIntent, or reuse `existing_reference`:

        - still open (requires_payment_method/confirmation/action): reused, its
          amount and currency updated if they changed;
        - processing, requires_capture or succeeded: returned as it is, with its
          state, never replaced (a new one would let the buyer pay twice);
        - canceled or missing: a new PaymentIntent, with an idempotency key derived
          from `request.idempotency_key` and the replaced id, so that a key which
          already created the canceled one cannot replay it.
        """
        idempotency_key = request.idempotency_key
        if existing_reference:
            existing = self._retrieve_for_reuse(existing_reference)
            if existing is not None:
                status = existing.get("status", "")
                if status in OPEN_STATUSES:
                    return self._started(self._update_amount(existing, request))
                if status in BUSY_STATUSES:
                    return self._started(existing)
            idempotency_key = f"{request.idempotency_key}:after:{existing_reference}"
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "metadata": {
                **request.metadata,
                "booking_reference": request.booking_reference,
                "attempt_reference": request.attempt_reference,
            },
            "automatic_payment_methods": {"enabled": True},
        }
        if request.description:
            params["description"] = request.description
        params.update(_destination_params(request))
        intent = self._call(
            self.client.v1.payment_intents.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return self._started(intent)

    def verify_payment(self, provider_reference: str) -> ProviderPayment:
        """The PaymentIntent's state. A declined attempt (`requires_payment_method`
        with a `last_payment_error`) is FAILED, with Stripe's decline code and
        message: Stripe would take another card on it, but we release the hold at
        once and the buyer books again (issue 18)."""
        intent = self._call(self.client.v1.payment_intents.retrieve, provider_reference)
        status = intent.get("status", "")
        amount = (
            intent.get("amount_received")
            if status == "succeeded"
            else intent.get("amount")
        )
        error = _declined(intent)
        return ProviderPayment(
            provider_reference=intent["id"],
            status=PaymentState.FAILED if error else payment_state(status),
            amount_minor=int(amount or 0),
            currency=str(intent.get("currency", "")).upper(),
            raw=intent,
            failure_code=str(
                (error or {}).get("decline_code") or (error or {}).get("code") or ""
            )[:100],
            failure_message=str((error or {}).get("message") or "")[:300],
        )

    def cancel_payment(self, provider_reference: str) -> None:
        """Cancel with reason `abandoned`; a no-op when already canceled or succeeded.
        A PaymentIntent that is processing cannot be canceled: ProviderRejected."""
        intent = self._call(self.client.v1.payment_intents.retrieve, provider_reference)
        if intent.get("status") in ("canceled", "succeeded"):
            return
        try:
            self.client.v1.payment_intents.cancel(
                provider_reference, params={"cancellation_reason": "abandoned"}
            )
        except stripe.InvalidRequestError as exc:
            # It may have become final between the two calls.
            if exc.code == "payment_intent_unexpected_state":
                intent = self._call(
                    self.client.v1.payment_intents.retrieve, provider_reference
                )
                if intent.get("status") in ("canceled", "succeeded"):
                    return
            raise _provider_error(exc) from exc
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc

    def refund(
        self,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
        *,
        reverse_transfer: bool = False,
        refund_application_fee: bool = False,
    ) -> ProviderRefund:
        """Refund part or all of a succeeded PaymentIntent. `reason` is free text:
        kept in the refund's metadata, and sent as Stripe's `reason` only when it is
        one of Stripe's (duplicate, fraudulent, requested_by_customer). For a
        destination charge, `reverse_transfer` and `refund_application_fee` are sent
        when true (Stripe reverses each in proportion to the amount refunded)."""
        params: dict[str, Any] = {
            "payment_intent": provider_reference,
            "amount": amount_minor,
        }
        if reverse_transfer:
            params["reverse_transfer"] = True
        if refund_application_fee:
            params["refund_application_fee"] = True
        stripe_reason = _REFUND_REASONS.get(reason.strip().lower())
        if stripe_reason:
            params["reason"] = stripe_reason
        if reason:
            params["metadata"] = {"reason": reason[:500]}
        refund = self._call(
            self.client.v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return self._refund(refund, fallback_currency=currency)

    # Webhooks

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify `Stripe-Signature` over the raw body with the organiser's endpoint
        secret (tolerance 300 s), then map the event. Event types we do not act on
        come back as EventKind.IGNORED.

        For refund events `amount_minor` is the refund's amount. `charge.refunded`
        carries the latest refund in the charge's `refunds` list when Stripe sent it;
        otherwise a synthetic refund `charge:<charge id>:<amount_refunded>` whose
        amount is the total refunded on the charge so far.
        """
        signature = _header(headers, "Stripe-Signature")
        try:
            # What construct_event does, minus building SDK objects we don't use.
            stripe.WebhookSignature.verify_header(
                body, signature, self.credentials.webhook_secret, WEBHOOK_TOLERANCE
            )
            event = json.loads(body)
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureError(str(exc.user_message)) from exc
        except ValueError as exc:  # not UTF-8 or not JSON
            raise WebhookSignatureError("Unreadable Stripe webhook body") from exc
        if not isinstance(event, dict) or not event.get("id"):
            raise WebhookSignatureError("Not a Stripe event")
        return self._event(event)

    # Internals

    def _call(self, method, *args, **kwargs) -> dict[str, Any]:
        try:
            return _to_dict(method(*args, **kwargs))
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc

    def _retrieve_for_reuse(self, reference: str) -> dict[str, Any] | None:
        try:
            return _to_dict(self.client.v1.payment_intents.retrieve(reference))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:  # gone, or from another account
                return None
            raise _provider_error(exc) from exc
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc

    def _update_amount(
        self, intent: dict[str, Any], request: PaymentRequest
    ) -> dict[str, Any]:
        currency = request.currency.lower()
        fee = request.destination.application_fee_minor if request.destination else 0
        if (
            intent.get("amount") == request.amount_minor
            and str(intent.get("currency", "")).lower() == currency
            and (intent.get("application_fee_amount") or 0) == fee
        ):
            return intent
        params: dict[str, Any] = {"amount": request.amount_minor, "currency": currency}
        if request.destination:
            # The fee follows the amount ("" unsets it, as Stripe's API documents).
            params["application_fee_amount"] = fee or ""
        return self._call(
            self.client.v1.payment_intents.update, intent["id"], params=params
        )

    @staticmethod
    def _started(intent: dict[str, Any]) -> PaymentStarted:
        return PaymentStarted(
            provider_reference=intent["id"],
            status=payment_state(intent.get("status", "")),
            client_secret=intent.get("client_secret") or "",
            raw=intent,
        )

    @staticmethod
    def _refund(
        refund: dict[str, Any],
        *,
        fallback_currency: str = "",
        fallback_reference: str = "",
    ) -> ProviderRefund:
        return ProviderRefund(
            provider_refund_id=refund["id"],
            provider_reference=refund.get("payment_intent") or fallback_reference,
            amount_minor=int(refund.get("amount") or 0),
            currency=str(refund.get("currency") or fallback_currency).upper(),
            status=refund_state(refund.get("status", "")),
            raw=refund,
        )

    def _event(self, event: dict[str, Any]) -> ProviderEvent:
        event_type = str(event.get("type", ""))
        obj = (event.get("data") or {}).get("object") or {}
        common = {
            "event_id": event["id"],
            "provider_type": event_type,
            "occurred_at": _timestamp(event.get("created")),
            "raw": event,
        }
        if event_type in _PAYMENT_EVENTS:
            succeeded = event_type == "payment_intent.succeeded"
            amount = obj.get("amount_received") if succeeded else obj.get("amount")
            return ProviderEvent(
                kind=_PAYMENT_EVENTS[event_type],
                provider_reference=obj.get("id", ""),
                amount_minor=None if amount is None else int(amount),
                currency=str(obj.get("currency", "")).upper(),
                **common,
            )
        if event_type in _REFUND_EVENTS:
            refund = self._refund(obj)
            return self._refund_event(refund, common)
        if event_type == "charge.refunded":
            return self._refund_event(self._charge_refund(obj), common)
        if event_type == "charge.dispute.created":
            amount = obj.get("amount")
            return ProviderEvent(
                kind=EventKind.DISPUTE_OPENED,
                provider_reference=obj.get("payment_intent") or "",
                amount_minor=None if amount is None else int(amount),
                currency=str(obj.get("currency", "")).upper(),
                **common,
            )
        if event_type == "account.updated":
            return ProviderEvent(
                kind=EventKind.ACCOUNT_UPDATED,
                provider_reference=obj.get("id") or "",
                account=event.get("account") or obj.get("id") or "",
                **common,
            )
        return ProviderEvent(kind=EventKind.IGNORED, **common)

    @staticmethod
    def _refund_event(refund: ProviderRefund, common: dict[str, Any]) -> ProviderEvent:
        return ProviderEvent(
            kind=EventKind.REFUND_UPDATED,
            provider_reference=refund.provider_reference,
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            refund=refund,
            **common,
        )

    def _charge_refund(self, charge: dict[str, Any]) -> ProviderRefund:
        payment_intent = charge.get("payment_intent") or ""
        currency = str(charge.get("currency", ""))
        refunds = [
            r for r in (charge.get("refunds") or {}).get("data") or [] if r.get("id")
        ]
        if refunds:
            latest = max(refunds, key=lambda r: r.get("created") or 0)
            return self._refund(
                latest,
                fallback_currency=currency,
                fallback_reference=payment_intent,
            )
        amount_refunded = int(charge.get("amount_refunded") or 0)
        return ProviderRefund(
            provider_refund_id=f"charge:{charge.get('id', '')}:{amount_refunded}",
            provider_reference=payment_intent,
            amount_minor=amount_refunded,
            currency=currency.upper(),
            status="succeeded",
            raw=charge,
        )
