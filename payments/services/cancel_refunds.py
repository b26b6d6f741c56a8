"""A cancelled booking that was paid is refunded: an outbox row written in the
cancellation's own transaction (through `booking_status_changed`), so the refund
is owed the moment the seats are given back and nothing between the commit and a
worker can lose it (no broker, no sweep).

The handler refunds what is left of each paid payment through `refund_issue`, which
counts refunds already asked for under the payment's row lock: run twice, or after a
partial refund from admin, it pays back exactly what is still owed and no more.
"""

from __future__ import annotations

import logging

from ticketing import outbox
from ticketing.lib import retry
from ticketing.models import OutboxMessage

from ..exceptions import RefundNotPossible, RefundOutcomeUnknown
from ..models import Payment, Provider
from .refunds import refund_issue

logger = logging.getLogger(__name__)

KIND = "payments.refund_cancelled"
REASON = "booking cancelled"
# A provider that surely did not refund (429, an open circuit) is asked again, an
# hour apart at most, for about a day and a half; then the dead row raises the
# "work out of retries" alert. A 5xx or a timeout may have refunded: the refund
# stays pending and counted, for its webhook or the reconcile task to settle.
POLICY = retry.RetryPolicy(base=30, cap=3600, max_attempts=40)


def _refundable_payments(booking_id: int):
    # Bank transfers are paid back by the organiser's own hand.
    return Payment.objects.filter(
        booking_id=booking_id, status=Payment.Status.SUCCEEDED
    ).exclude(provider=Provider.OFFLINE)


def refund_owed_on_cancel(*, booking_id: int) -> None:
    """Inside the cancellation's transaction: owe the refund if anything was paid."""
    organiser_id = (
        _refundable_payments(booking_id).values_list("organiser_id", flat=True).first()
    )
    if organiser_id is not None:
        outbox.enqueue(
            KIND,
            key=f"booking:{booking_id}",
            payload={"booking_id": booking_id},
            organiser_id=organiser_id,
        )


def refund_cancelled_handler(message: OutboxMessage) -> int:
    """Refund what is left of every paid payment of the booking; return how many
    refunds were asked for. A provider that cannot be reached raises (the row is
    tried again); a sure refusal is recorded on the refund and ends the row."""
    booking_id = message.payload["booking_id"]
    asked = 0
    first_error: Exception | None = None
    for payment in _refundable_payments(booking_id).order_by("pk"):
        try:
            refund_issue(payment_id=payment.pk, reason=REASON)
        except RefundNotPossible:
            continue  # refunded already: a redelivery, or an earlier refund in full
        except RefundOutcomeUnknown:
            # Pending and counted, so a redelivery skips it; the provider's refund
            # webhook or the reconcile task settles it.
            logger.warning("Refund of payment %s not confirmed yet", payment.pk)
        except Exception as error:  # noqa: BLE001 - the others are still owed theirs
            logger.warning("Refund of payment %s failed: %s", payment.pk, error)
            first_error = first_error or error
            continue
        asked += 1
    if first_error is not None:
        raise first_error
    return asked

