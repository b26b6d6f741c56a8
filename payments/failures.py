"""A provider's reason for a failed payment, in words a buyer understands.

Stripe gives a decline code (`insufficient_funds`...) and an English message;
Paystack a free-text `gateway_response` ("Declined", "Insufficient Funds"...). Known
reasons get our own sentence, translated; anything else a general one, with the
provider's text when there is some (it is all the buyer can act on).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Stripe decline and error codes (https://docs.stripe.com/declines/codes) and the
# words in Paystack's gateway responses, lower-case, both mapped to one sentence.
_REASONS = {
    "insufficient_funds": gettext_lazy(
        "The card has insufficient funds. Try another card or payment method."
    ),
    "expired_card": gettext_lazy("The card has expired. Try another card."),
    "incorrect_cvc": gettext_lazy(
        "The security code (CVC) was wrong. Check it and try again."
    ),
    "invalid_cvc": gettext_lazy(
        "The security code (CVC) was wrong. Check it and try again."
    ),
    "incorrect_number": gettext_lazy(
        "The card number was wrong. Check it and try again."
    ),
    "authentication_required": gettext_lazy(
        "Your bank's security check was not completed. Try again and approve "
        "the payment in your banking app."
    ),
    "payment_intent_authentication_failure": gettext_lazy(
        "Your bank's security check was not completed. Try again and approve "
        "the payment in your banking app."
    ),
    "card_velocity_exceeded": gettext_lazy(
        "The card's spending limit was reached. Try another card."
    ),
    "withdrawal_count_limit_exceeded": gettext_lazy(
        "The card's spending limit was reached. Try another card."
    ),
    "processing_error": gettext_lazy(
        "The payment could not be processed. Please try again in a moment."
    ),
    "lost_card": gettext_lazy(
        "Your bank declined the card. Try another card or contact your bank."
    ),
    "stolen_card": gettext_lazy(
        "Your bank declined the card. Try another card or contact your bank."
    ),
}
_GENERIC = gettext_lazy(
    "Your bank declined the payment. Try another card or contact your bank."
)
# Paystack's free text, matched by words it contains.
_PAYSTACK_WORDS = (
    ("insufficient", "insufficient_funds"),
    ("expired", "expired_card"),
    ("cvv", "incorrect_cvc"),
    ("otp", "authentication_required"),
    ("pin", "authentication_required"),
    ("timeout", "processing_error"),
    ("timed out", "processing_error"),
)


# Provider texts that say no more than "declined": the general sentence alone.
_PLAIN_TEXTS = frozenset(
    {"", "declined", "failed", "transaction failed", "your card was declined"}
)


def failure_reason(code: str, message: str = "") -> str:
    """The buyer-facing sentence for a failure `code` (and the provider's `message`)."""
    code = (code or "").strip().lower()
    text = (message or "").strip()
    if code in _REASONS:
        return str(_REASONS[code])
    lowered = text.lower()
    for word, known in _PAYSTACK_WORDS:
        if word in lowered:
            return str(_REASONS[known])
    if lowered.rstrip(".") in _PLAIN_TEXTS:
        return str(_GENERIC)
    return _("%(generic)s (%(provider)s)") % {
        "generic": _GENERIC,
        "provider": text.rstrip("."),
    }


def payment_failure_reason(payment) -> str:
    """`failure_reason` of a Payment row, "" when it has not failed."""
    if payment is None or payment.status != payment.Status.FAILED:
        return ""
    return failure_reason(payment.failure_code, payment.failure_message)


def booking_failure_reason(booking) -> str:
    """In plain words, why the booking's last failed payment failed (for the
    payment-failed message, which the notifications app asks for)."""
    from .models import Payment

    failed = (
        booking.payments.filter(status=Payment.Status.FAILED)
        .order_by("-created_at")
        .first()
    )
    return payment_failure_reason(failed)
