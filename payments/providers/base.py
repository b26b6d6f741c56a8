"""The one interface every payment provider implements.

A provider module turns our calls into the provider's wire format and back into these
dataclasses; it never touches the ORM (mapping to rows happens in `payments/services`).
Amounts are integer minor units of the booking's currency everywhere; a provider
converts at its boundary if its API counts differently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ticketing.lib.http_errors import (
    ExternalAuthError,
    ExternalError,
    ExternalRejected,
    ExternalUnavailable,
)

# A provider call fails the way any external call does (ticketing.lib.http_errors):
# unavailable (retry later, with `retry_after`), rejected, or refused credentials.
ProviderError = ExternalError
ProviderUnavailable = ExternalUnavailable
ProviderRejected = ExternalRejected
ProviderAuthError = ExternalAuthError


class WebhookSignatureError(Exception):
    """Missing, forged or stale signature: answer 400 and change nothing."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a provider needs to act for one organiser (secrets already decrypted)."""

    secret_key: str
    public_key: str = ""
    webhook_secret: str = ""


@dataclass(frozen=True, slots=True)
class DestinationCharge:
    """Stripe Connect: charge on the platform's account, send the money to `account`
    and keep `application_fee_minor` (0: no fee). With `on_behalf_of` the connected
    account is the merchant of record."""

    account: str
    application_fee_minor: int = 0
    on_behalf_of: bool = False


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    booking_reference: str
    attempt_reference: str  # unique per attempt; Paystack's `reference`
    amount_minor: int
    currency: str
    buyer_email: str
    description: str
    metadata: dict[str, str]
    return_url: str  # where the buyer comes back to (Paystack callback_url)
    idempotency_key: str
    destination: DestinationCharge | None = None  # Stripe only


@dataclass(frozen=True, slots=True)
class PaymentStarted:
    """What the payment page needs: a Stripe client secret or a Paystack redirect."""

    provider_reference: str  # PaymentIntent id (pi_...) or Paystack reference
    status: str  # one of PaymentState
    client_secret: str = ""
    redirect_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class PaymentState:
    """Provider statuses mapped to ours."""

    PENDING = "pending"  # waiting for the buyer or the provider
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # this attempt failed; the buyer may retry
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """A payment as the provider reports it right now (from a verify call)."""

    provider_reference: str
    status: str  # one of PaymentState
    amount_minor: int  # amount received (or requested, when not yet received)
    currency: str  # upper-case ISO 4217
    raw: dict[str, Any] = field(default_factory=dict)
    # A FAILED payment's reason as the provider gave it: a machine code (Stripe's
    # decline code) and/or its text (Stripe's message, Paystack's gateway_response).
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider_refund_id: str
    provider_reference: str  # the payment it refunds
    amount_minor: int
    currency: str
    status: str  # pending | succeeded | failed
    raw: dict[str, Any] = field(default_factory=dict)


class EventKind:
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    REFUND_UPDATED = "refund.updated"
    DISPUTE_OPENED = "dispute.opened"
    ACCOUNT_UPDATED = "account.updated"  # a Stripe connected account changed
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified webhook delivery, provider-neutral."""

    event_id: str  # unique per provider; the dedup key
    kind: str  # one of EventKind
    provider_type: str  # the provider's own event name, for the record
    provider_reference: str = ""  # the payment concerned (pi_... / Paystack reference)
    amount_minor: int | None = None
    currency: str = ""
    refund: ProviderRefund | None = None
    occurred_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    account: str = ""  # Stripe Connect: the connected account it happened on


class PaymentProvider:
    """Interface. One instance per organiser's credentials; cheap to build.

    Every method that calls the provider raises ProviderUnavailable (retryable),
    ProviderAuthError or ProviderRejected; none retries by itself (tasks do).
    """

    identifier: str = ""
    # Whether asking `refund` again with the same idempotency key can only ever
    # return the first refund: then a refund of unknown outcome may be asked again.
    refunds_are_idempotent: bool = False
    # Whether money only goes back by a person's hand (bank transfer): then nothing
    # asks for a refund automatically; the booking is flagged for the organiser.
    refunds_by_hand: bool = False

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def start_payment(
        self, request: PaymentRequest, existing_reference: str = ""
    ) -> PaymentStarted:
        """Open a payment for `request`. With `existing_reference` (an open attempt of
        the same booking), reuse it, updating its amount if it changed, rather than
        opening a second one. Idempotent on `request.idempotency_key`."""
        raise NotImplementedError

    def verify_payment(self, provider_reference: str) -> ProviderPayment:
        """Ask the provider for the payment's current state. Never trust a webhook or
        a redirect without this."""
        raise NotImplementedError

    def cancel_payment(self, provider_reference: str) -> None:
        """Cancel an open attempt (the hold expired). A no-op if it is already final."""
        raise NotImplementedError

    @classmethod
    def webhook_body_to_store(cls, body: bytes) -> str:
        """The delivery's body as it may be kept in the database: providers whose
        events carry secrets (Paystack's reusable card authorization) remove them."""
        return body.decode("utf-8", errors="replace")

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify the signature over the raw `body` and parse it. Raises
        WebhookSignatureError for a missing, forged or stale signature."""
        raise NotImplementedError

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
        """Refund `amount_minor` of a succeeded payment (partial or full).

        Stripe destination charges only (callers pass them for no other payment):
        `reverse_transfer` takes the money back from the connected account and
        `refund_application_fee` gives the platform's fee back, both in proportion
        to the amount refunded."""
        raise NotImplementedError
