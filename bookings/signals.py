"""What selling tells the layers above (payments, tickets, sync), after commit."""

from django.dispatch import Signal

# booking_id: a booking became CONFIRMED (tickets, notifications, invoices follow).
booking_confirmed = Signal()
# booking_id, status: a booking was cancelled or refunded and its seats returned.
booking_released = Signal()
# booking_ids: holds passed their expiry (open payment attempts can be cancelled).
bookings_expired = Signal()
