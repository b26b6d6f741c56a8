"""What counts as sold, for the reports and the dashboard alike.

A booking is a sale from its confirmation, and stays one, refunds and all, if a
provider took money for it: the reports then show that money and what was given
back. A booking no provider took money for (paid offline, a comp) is a sale only
while it stays confirmed: cancelled, nothing was collected that a refund could show,
so it counts for nothing rather than as tickets and money never taken.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from bookings.models import Booking
from payments.models import Payment


def counted_as_sold(path: str = "") -> Q:
    """Bookings (or, with `path="booking__"`, rows pointing at them) that count as
    sold; the caller filters on the confirmation time."""
    ref = path.removesuffix("__") or "pk"
    paid = Payment.objects.filter(
        booking_id=OuterRef(ref), status=Payment.Status.SUCCEEDED
    )
    return Q(**{f"{path}status": Booking.Status.CONFIRMED}) | Q(Exists(paid))
