"""Bank transfer / pay later: the buyer pays outside the platform, and the organiser
marks the payment received in the admin (`payments.services.offline`).

There is nobody to call: a payment is opened under the booking's reference (what the
buyer quotes on the transfer), it stays pending until the organiser says otherwise,
and a refund is money the organiser sends back by hand.
"""

from __future__ import annotations

from .base import (
    PaymentProvider,
    PaymentRequest,
    PaymentStarted,
    PaymentState,
    ProviderPayment,
    ProviderRefund,
)


class OfflineProvider(PaymentProvider):
    identifier = "offline"
    # Only the organiser can send money back: automatic refunds (a booking paid
    # after its seats were gone, a cancelled booking) are left to them, flagged.
    refunds_by_hand = True

    def start_payment(
        self, request: PaymentRequest, existing_reference: str = ""
    ) -> PaymentStarted:
        """One payment per booking, under the booking's reference, so that a second
        choice of bank transfer finds the first one."""
        return PaymentStarted(
            provider_reference=request.booking_reference,
            status=PaymentState.PENDING,
            raw={"method": "bank_transfer"},
        )

    def verify_payment(self, provider_reference: str) -> ProviderPayment:
        """Nothing to ask: only the organiser knows, and they say so through
        `payment_offline_mark_paid`. Pending, with no amount received."""
        return ProviderPayment(
            provider_reference=provider_reference,
            status=PaymentState.PENDING,
            amount_minor=0,
            currency="",
        )

    def cancel_payment(self, provider_reference: str) -> None:
        """Nothing to close at a provider."""

    def refund(
        self,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        """Records a refund the organiser makes by bank transfer themselves (they add
        it in the admin once sent): it is final when recorded."""
        return ProviderRefund(
            provider_refund_id=f"manual:{idempotency_key}",
            provider_reference=provider_reference,
            amount_minor=amount_minor,
            currency=currency,
            status="succeeded",
            raw={"method": "bank_transfer", "reason": reason},
        )
