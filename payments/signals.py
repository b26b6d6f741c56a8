"""What payments tells the layers above (invoicing, the Stripe catalogue sync)."""

from django.dispatch import Signal

# organiser_id, account_id, charges_enabled: an organiser's Stripe connected account
# was linked, or its state changed. Sent inside the change's transaction: receivers
# write rows only (outbox rows, never a call out), each in a savepoint of its own.
# The catalogue sync queues the organiser's events and ticket types for `account_id`.
connected_account_changed = Signal()

# refund_id, booking_id, amount_minor: a refund succeeded at the provider (sent
# once, when the refund first becomes succeeded).
refund_succeeded = Signal()
