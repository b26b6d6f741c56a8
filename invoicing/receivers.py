"""Reactions to selling and payments (connected by `InvoicingConfig.ready()`).

The signals come after commit, so each service opens its own transaction. A failure
is logged and swallowed: the sale or the refund is committed already, other
receivers must still run, and the admin can issue the invoice by hand.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from bookings import signals as booking_signals
from payments import signals as payment_signals

from .services.sales import booking_invoice_issue, booking_refund_credit

logger = logging.getLogger(__name__)


@receiver(booking_signals.booking_confirmed, dispatch_uid="invoicing.booking_invoice")
def issue_booking_invoice(sender, booking_id, **kwargs):
    try:
        booking_invoice_issue(booking_id=booking_id)
    except Exception:
        logger.exception("Could not issue the invoice of booking %s", booking_id)


@receiver(payment_signals.refund_succeeded, dispatch_uid="invoicing.refund_credit")
def credit_refund(sender, refund_id, booking_id, amount_minor, **kwargs):
    try:
        booking_refund_credit(
            booking_id=booking_id,
            amount_minor=amount_minor,
            refund_key=f"refund:{refund_id}",
        )
    except Exception:
        logger.exception(
            "Could not credit refund %s of booking %s", refund_id, booking_id
        )
