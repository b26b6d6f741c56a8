from bookings.services import AttendeeInput, BuyerInput, LineInput, booking_create

BUYER = BuyerInput(name="Ada Lovelace", email="ada@example.org", phone="+33612345678")


def attendees(count: int) -> list[AttendeeInput]:
    return [AttendeeInput(name=f"Guest {index}") for index in range(count)]


def hold(session, *lines, key=None, buyer=BUYER, **kwargs):
    """Hold `lines` of (ticket_type, quantity) in `session`."""
    quantity = sum(quantity for _, quantity in lines)
    return booking_create(
        session_id=session.pk,
        lines=[LineInput(ticket_type.pk, quantity) for ticket_type, quantity in lines],
        buyer=buyer,
        attendees=attendees(quantity),
        idempotency_key=key,
        **kwargs,
    )


def assert_links_to_rebook(text: str, booking) -> None:
    """`text` (an email body or an HTML page) links to the booking's "book again"
    checkout with a token that opens that booking. The token is compared by what it
    opens, not character by character: it carries the second it was signed."""
    import re

    from django.core import signing
    from django.urls import reverse

    checkout = reverse("shop:checkout", args=[booking.event.slug])
    pattern = (
        re.escape(f"{checkout}?again={booking.reference}") + r"(?:&|&amp;)t=([\w:\-]+)"
    )
    match = re.search(pattern, text)
    assert match, f"no book-again link for {booking.reference} in:\n{text}"
    assert signing.loads(match.group(1), salt="bookings.access") == booking.reference
