"""What payments does when selling tells it something: `bookings_expired` comes after
commit, `booking_status_changed` inside the transaction of the change."""

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


@receiver(signals.booking_status_changed, dispatch_uid="payments.refund_on_cancel")
def refund_cancelled_booking(sender, booking_id, status, **kwargs):
    """Inside the cancellation's transaction: the refund is owed with it."""
    if status != Booking.Status.CANCELLED:
        return
    from .services.cancel_refunds import refund_owed_on_cancel

    refund_owed_on_cancel(booking_id=booking_id)
