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
