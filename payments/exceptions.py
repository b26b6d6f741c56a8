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
