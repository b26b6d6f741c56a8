"""What payments tell the layers above (invoicing), after commit."""

from django.dispatch import Signal

# refund_id, booking_id, amount_minor: a refund succeeded at the provider (sent
# once, when the refund first becomes succeeded).
refund_succeeded = Signal()
