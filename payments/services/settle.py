"""Settling a payment from what the provider says, never from what a payload claims."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from bookings.exceptions import DiscountCodeUsedUp, InvalidTransition, SoldOut
from bookings.models import Booking
from bookings.services import booking_confirm, booking_release_unpaid
from ticketing.audit import audit_log
from ticketing.sweep import enqueue_on_commit

from ..accounts import provider_for_payment
from ..exceptions import RefundOutcomeUnknown
from ..models import Payment, PaymentEvent
from ..providers import provider_class
from ..providers.base import PaymentState, ProviderError, ProviderPayment

logger = logging.getLogger(__name__)


def payment_settle_reference(
    *, provider: str, provider_reference: str, source: str
) -> Payment | None:
    payment = Payment.objects.filter(
        provider=provider, provider_reference=provider_reference
    ).first()
    if payment is None:
        logger.warning(
            "No payment for %s reference %s (%s)", provider, provider_reference, source
        )
        return None
    return payment_settle(payment_id=payment.pk, source=source)


def payment_settle(*, payment_id: int, source: str) -> Payment:
    """Verify the payment with its provider and record the outcome. Idempotent, and a
    payment never moves backwards (a late "failed" after "succeeded" changes nothing).

    A verified success whose amount or currency differs from the booking's leaves the
    booking unconfirmed and flagged. A success confirms the booking (re-taking its
    seats if the hold expired); when the seats are gone, or the booking was cancelled
    meanwhile, the payment is refunded in full and the organiser sees the flag.
    """
    payment = Payment.objects.get(pk=payment_id)
    state = provider_for_payment(payment).verify_payment(payment.provider_reference)
    return payment_record_state(payment_id=payment_id, state=state, source=source)


def payment_record_state(
    *, payment_id: int, state: ProviderPayment, source: str
) -> Payment:
    """The second half of `payment_settle`: record `state`, as verified, and fulfil
    the booking on success (or flag it). The organiser's word that a bank transfer
    arrived comes in here too (`payment_offline_mark_paid`), so that it confirms,
    re-takes seats and flags exactly as a late card payment does."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("booking")
            .get(pk=payment_id)
        )
        booking = payment.booking
        PaymentEvent.objects.create(
            payment=payment,
            action=f"verified.{source}",
            status=state.status,
            amount_minor=state.amount_minor,
            data=state.raw,
        )
        payment.raw_state = state.raw
        fields = ["raw_state", "updated_at"]
        # An attempt we counted as failed or cancelled that was paid after all is
        # recorded: the money has moved, and `_fulfil` confirms or refunds it.
        # Failed: another card on the same Stripe form before we closed it.
        # Cancelled: Paystack cannot cancel a transaction, so the one we closed at
        # the hold's expiry can still be paid on its page.
        late_success = (
            payment.status in (Payment.Status.FAILED, Payment.Status.CANCELED)
            and state.status == PaymentState.SUCCEEDED
        )
        if payment.status == Payment.Status.PENDING or late_success:
            if state.status == PaymentState.SUCCEEDED:
                matches = (
                    state.amount_minor == booking.total_minor == payment.amount_minor
                    and state.currency.upper() == booking.currency
                )
                payment.status = (
                    Payment.Status.SUCCEEDED if matches else Payment.Status.MISMATCH
                )
                payment.succeeded_at = timezone.now()
                fields += ["status", "succeeded_at"]
                if not matches:
                    _flag_mismatch(payment, booking, state)
            elif state.status in (PaymentState.FAILED, PaymentState.CANCELED):
                payment.status = state.status
                fields.append("status")
                if state.status == PaymentState.FAILED:
                    payment.failure_code = state.failure_code[:100]
                    payment.failure_message = state.failure_message[:300]
                    fields += ["failure_code", "failure_message"]
        payment.save(update_fields=fields)
    if payment.status == Payment.Status.SUCCEEDED:
        _fulfil(payment)
    elif payment.status == Payment.Status.FAILED:
        _release_after_failure(payment)
    return payment


def _flag_mismatch(payment: Payment, booking: Booking, state) -> None:
    Booking.objects.filter(pk=booking.pk).update(needs_attention=True)
    audit_log(
        action="payments.payment.amount_mismatch",
        obj=payment,
        organiser_id=payment.organiser_id,
        actor=payment.provider,
        data={
            "booking": booking.reference,
            "expected_minor": booking.total_minor,
            "expected_currency": booking.currency,
            "reported_minor": state.amount_minor,
            "reported_currency": state.currency,
        },
    )
    logger.warning(
        "Payment %s reports %s %s for booking %s of %s %s",
        payment.pk,
        state.amount_minor,
        state.currency,
        booking.reference,
        booking.total_minor,
        booking.currency,
    )


def _release_after_failure(payment: Payment) -> None:
    """A failed attempt gives the seats back at once and tells the buyer how to book
    again (issue 18), unless the buyer has moved on to a newer attempt (bank
    transfer chosen after a card was declined): that one keeps the hold. Idempotent,
    so a redelivered event or a retried webhook finishes a release that failed."""
    booking = payment.booking
    if booking.status != Booking.Status.PENDING:
        return
    if booking.payments.filter(created_at__gt=payment.created_at).exists():
        return
    try:
        booking_release_unpaid(
            booking_id=booking.pk,
            actor=f"{payment.provider} payment",
            reason=f"payment failed: {payment.failure_code or 'declined'}",
            notice="payment_failed",  # the notifications app's template
        )
    except InvalidTransition:
        return  # confirmed, cancelled or expired meanwhile: nothing to give back
    # Close the attempt at the provider too, so that the old card form cannot be
    # paid after its seats went back (a late payment would be confirmed only if
    # the seats are still free, else refunded). Outside any lock; best effort.
    try:
        provider_for_payment(payment).cancel_payment(payment.provider_reference)
    except ProviderError:
        logger.warning("Could not close failed payment %s", payment.pk, exc_info=True)
    # The booking's older open attempts are closed by a task after commit. A broker
    # that cannot be reached is logged, never raised: the buyer's return page (or
    # the webhook) has its answer, and `payments_reconcile` closes what is left open.
    from ..tasks import payment_cancel_open_task

    enqueue_on_commit(payment_cancel_open_task, [booking.pk])


def _fulfil(payment: Payment) -> None:
    from .refunds import refund_issue

    try:
        booking_confirm(
            booking_id=payment.booking_id, actor=f"{payment.provider} payment"
        )
        return
    except (SoldOut, DiscountCodeUsedUp, InvalidTransition) as error:
        reason = {
            SoldOut: "seats no longer available",
            DiscountCodeUsedUp: "discount code used up",
        }.get(type(error), "booking no longer open")
    Booking.objects.filter(pk=payment.booking_id).update(needs_attention=True)
    if payment.refunds.exclude(status="failed").exists():
        return  # the automatic refund was already asked for
    audit_log(
        action="payments.payment.unfulfilled",
        obj=payment,
        organiser_id=payment.organiser_id,
        actor=payment.provider,
        data={"booking": payment.booking.reference, "reason": reason},
    )
    if provider_class(payment.provider).refunds_by_hand:
        return  # the organiser sends the money back; the flag tells them to
    try:
        refund_issue(payment_id=payment.pk, reason=f"Paid but unfulfilled: {reason}")
    except RefundOutcomeUnknown:
        # Pending and counted: the provider's refund webhook settles it.
        logger.warning("Refund of payment %s not confirmed yet", payment.pk)
