"""Every write to bookings. Each public function owns its transaction.

Seats are decided under the session's row lock (see `bookings/locks.py`): holds,
confirmations, cancellations and refunds all take it, session first and ticket types
after, so that a seat is never given twice and two buyers never deadlock.
"""

from .expiry import booking_expire_stale
from .holds import (
    AttendeeInput,
    BillingInput,
    BuyerInput,
    LineInput,
    booking_create,
    booking_reference_new,
)
from .lifecycle import (
    booking_cancel,
    booking_confirm,
    booking_hold_extend,
    booking_mark_refunded,
    booking_release_unpaid,
)

__all__ = [
    "AttendeeInput",
    "BillingInput",
    "BuyerInput",
    "LineInput",
    "booking_cancel",
    "booking_confirm",
    "booking_create",
    "booking_expire_stale",
    "booking_hold_extend",
    "booking_mark_refunded",
    "booking_reference_new",
    "booking_release_unpaid",
]
