"""What payments tells the layers above (invoicing, the Stripe catalogue sync), after
commit."""

from django.dispatch import Signal

# organiser_id, account_id, charges_enabled: an organiser's Stripe connected account
# was linked, or its state changed (sent once the change is committed). The catalogue
# sync pushes the organiser's events and ticket types to `account_id` when it appears.
connected_account_changed = Signal()

# refund_id, booking_id, amount_minor: a refund succeeded at the provider (sent
# once, when the refund first becomes succeeded).
refund_succeeded = Signal()
