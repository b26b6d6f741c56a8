from __future__ import annotations

from .base import (
    PaymentProvider,
    PaymentRequest,
    PaymentStarted,
    PaymentState,
    ProviderRejected,
)


class FreeProvider(PaymentProvider):
    """Nothing to collect. Free bookings are confirmed when they are held, so this
    only answers for a zero total and refuses anything else."""

    identifier = "free"

    def start_payment(
        self, request: PaymentRequest, existing_reference: str = ""
    ) -> PaymentStarted:
        if request.amount_minor != 0:
            raise ProviderRejected("The free provider only takes a total of zero.")
        return PaymentStarted(
            provider_reference=f"free:{request.booking_reference}",
            status=PaymentState.SUCCEEDED,
        )
