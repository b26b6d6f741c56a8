"""What payments does when selling tells it something (signals sent after commit)."""

from django.dispatch import receiver

from bookings import signals
from bookings.models import Booking


@receiver(signals.bookings_expired)
def cancel_open_payments_of_expired_holds(sender, booking_ids, **kwargs):
    from .tasks import payment_cancel_open_task

    payment_cancel_open_task.delay(list(booking_ids))


@receiver(signals.booking_released)
def refund_cancelled_booking(sender, booking_id, status, **kwargs):
    from .models import Payment
    from .tasks import refund_booking_task

    if status != Booking.Status.CANCELLED:
        return
    if Payment.objects.filter(
        booking_id=booking_id, status=Payment.Status.SUCCEEDED
    ).exists():
        refund_booking_task.delay(booking_id, "booking cancelled")
