"""`PaystackProvider`: starting a payment (with the reference reuse rules Paystack's
lack of idempotency keys requires), verifying it, cancelling (a no-op) and
refunding, plus the checks on what we send. Apart from the HTTP client, the
webhooks and the field mapping, which it mixes in or imports, so that this module
reads as the payment flow.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from ticketing.lib.http_errors import MalformedResponse

from ..base import (
    PaymentProvider,
    PaymentRequest,
    PaymentStarted,
    PaymentState,
    ProviderAuthError,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
)
from .client import PaystackClient
from .mapping import (
    _CURRENCY_RE,
    _PAYMENT_STATES,
    _REFUND_STATES,
    _currency_field,
    _int_field,
    _optional_int,
    _redacted,
    _str_field,
)
from .webhooks import PaystackWebhooks

logger = logging.getLogger(__name__)

# Attempts that a buyer can still complete on the checkout page already issued.
_OPEN_STATUSES = frozenset({"abandoned", "ongoing", "pending", "processing", "queued"})

# Paystack references: alphanumerics plus "-", "." and "=".
_REFERENCE_RE = re.compile(r"^[A-Za-z0-9.=-]{1,100}$")
# How many references `start_payment` tries for one attempt (the attempt's own plus
# "<reference>.r2" ... ) before giving up; see its docstring.
_MAX_REFERENCES = 5
_MAX_ATTEMPT_REFERENCE = 96
_DUPLICATE_REFERENCE = "duplicate transaction reference"


class PaystackProvider(PaystackClient, PaystackWebhooks, PaymentProvider):
    """Paystack for one organiser's secret key. Cheap to build: the pooled session
    is shared by every organiser (the key travels per call)."""

    identifier = "paystack"

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
