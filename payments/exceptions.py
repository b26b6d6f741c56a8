"""Domain errors of payments, each with a stable `code` and a user-safe message."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class PaymentError(Exception):
    code = "payment_error"
    default_message = _("This payment could not be processed.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class ProviderNotConfigured(PaymentError):
    code = "provider_not_configured"
    default_message = _("This payment method is not available for this organiser.")


class PaymentNotPossible(PaymentError):
    code = "payment_not_possible"
    default_message = _("This booking cannot be paid now.")


class RefundNotPossible(PaymentError):
    code = "refund_not_possible"
    default_message = _("This refund is not possible.")


class RefundOutcomeUnknown(PaymentError):
    """The provider was asked and did not say whether it refunded (a timeout, a 5xx,
    an unreadable answer). The refund stays pending, counted as asked for, until the
    provider's webhook settles it: asking again could pay the buyer back twice."""

    code = "refund_outcome_unknown"
    default_message = _(
        "The payment provider did not confirm the refund. It stays pending until the "
        "provider reports it; do not refund this payment again meanwhile."
    )


class ConnectNotPossible(PaymentError):
    code = "connect_not_possible"
    default_message = _("This Stripe account cannot be connected.")
