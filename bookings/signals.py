"""What selling tells the layers above (payments, admission, notifications, the partner
API). `booking_confirmed`, `booking_released` and `bookings_expired` are sent after
commit (their receivers start work that may take a while); `booking_status_changed`,
`bookings_expiring` and `buyer_message_requested` are sent inside the transaction, so
that the rows their receivers write (notifications, partner webhook deliveries, outbox
rows) commit or roll back with the change."""

from django.dispatch import Signal

# booking_id: a booking became CONFIRMED (tickets, notifications, invoices follow).
booking_confirmed = Signal()
# booking_id, status: a booking was cancelled or refunded and its seats returned.
booking_released = Signal()
# booking_ids: holds passed their expiry (open payment attempts can be cancelled).
bookings_expired = Signal()
# booking_ids: an expiry batch turned these holds EXPIRED. Sent INSIDE the batch's
# transaction, under the bookings' row locks, so the notices (and their outbox rows)
# commit with the expiry or not at all. A receiver that raises rolls the batch back
# (its holds expire on the next run); receivers write rows set-based, not per booking.
bookings_expiring = Signal()
# booking, template (a notification template name, e.g. "payment_instructions"),
# channels (None: every channel the buyer gave), once (True: not if the booking had
# this message already, nor if its status no longer calls for it). Sent INSIDE the
# transaction of the change that causes the message, so the receiver's outbox rows
# commit or roll back with it; `bookings` may not import `notifications`.
buyer_message_requested = Signal()
# booking_id, status, previous: a booking became CONFIRMED, CANCELLED or REFUNDED.
# Sent INSIDE the transaction of the change, under the booking's lock; a receiver
# that raises fails the change, so receivers keep their work to writing rows.
booking_status_changed = Signal()
