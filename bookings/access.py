"""Who may see a booking's page: a reference alone must not reveal a buyer's data.

Access comes from a signed token (in the link of the confirmation email and of the
redirect after checkout) or from the browser session that created the booking.
"""

from __future__ import annotations

from django.core import signing

_SALT = "bookings.access"
_SESSION_KEY = "bookings"
_REMEMBERED = 20


def booking_access_token(reference: str) -> str:
    return signing.dumps(reference, salt=_SALT, compress=True)


def remember_booking(request, reference: str) -> None:
    references = [
        ref for ref in request.session.get(_SESSION_KEY, []) if ref != reference
    ]
    request.session[_SESSION_KEY] = [reference, *references][:_REMEMBERED]


def booking_access_granted(request, reference: str) -> bool:
    """True for the session that made the booking or a valid token (?t=) for it;
    a valid token also remembers the booking in the session."""
    if reference in request.session.get(_SESSION_KEY, []):
        return True
    token = request.GET.get("t", "")
    try:
        granted = signing.loads(token, salt=_SALT) == reference
    except signing.BadSignature:
        return False
    if granted:
        remember_booking(request, reference)
    return granted


def booking_page_path(reference: str) -> str:
    return f"/b/{reference}/?t={booking_access_token(reference)}"


def rebook_path(booking) -> str:
    """The checkout of the booking's event, prefilled from it (session, tickets,
    buyer, attendees): the "try again" of a failed payment or an expired hold. The
    token is the booking page's, since it shows the same buyer data."""
    from django.urls import reverse

    checkout = reverse("shop:checkout", args=[booking.event.slug])
    reference = booking.reference
    return f"{checkout}?again={reference}&t={booking_access_token(reference)}"
