"""What selling tells the layers above (payments, admission, notifications, the
partner API). Most are sent after commit; `buyer_message_requested` is sent inside
the transaction."""

from django.dispatch import Signal

# booking_id: a booking became CONFIRMED (tickets, notifications, invoices follow).
booking_confirmed = Signal()
# booking_id, status: a booking was cancelled or refunded and its seats returned.
booking_released = Signal()
# booking_ids: holds passed their expiry (open payment attempts can be cancelled).
bookings_expired = Signal()
# booking, template (a notification template name, e.g. "payment_instructions"),
# channels (None: every channel the buyer gave), once (True: not if the booking had
# this message already, nor if its status no longer calls for it). Sent INSIDE the
# transaction of the change that causes the message, so the receiver's outbox rows
# commit or roll back with it; `bookings` may not import `notifications`.
buyer_message_requested = Signal()
