"""What payments does when selling tells it something (signals sent after commit)."""

from django.dispatch import receiver

from bookings import signals
from bookings.models import Booking
from ticketing.sweep import enqueue_on_commit


@receiver(signals.bookings_expired)
def cancel_open_payments_of_expired_holds(sender, booking_ids, **kwargs):
    from .tasks import payment_cancel_open_task

    # After commit: a broker that cannot be reached is logged, never a 500 for a
    # change already made (payments_reconcile cancels what is left open).
    enqueue_on_commit(payment_cancel_open_task, list(booking_ids))


@receiver(signals.booking_released)
def refund_cancelled_booking(sender, booking_id, status, **kwargs):
    from .models import Payment
    from .tasks import refund_booking_task

    if status != Booking.Status.CANCELLED:
        return
    if Payment.objects.filter(
        booking_id=booking_id, status=Payment.Status.SUCCEEDED
    ).exists():
        # Lost with the broker? payments.sweeps.refunds_lost_due enqueues it again.
        enqueue_on_commit(refund_booking_task, booking_id, "booking cancelled")
