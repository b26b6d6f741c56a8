import secrets

import factory

from bookings.models import Booking, Ticket

from .factories import AttendeeFactory

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def random_code() -> str:
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


class TicketFactory(factory.django.DjangoModelFactory):
    """A valid ticket of a confirmed booking; organiser, session and ticket type come
    from the attendee's booking line.

    Rows only: issuing tickets goes through `admission.services`.
    """

    class Meta:
        model = Ticket

    attendee = factory.SubFactory(
        AttendeeFactory,
        name="Ada Lovelace",
        line__ticket_type__name="Regular",
        line__booking__status=Booking.Status.CONFIRMED,
        line__booking__expires_at=None,
    )
    booking = factory.SelfAttribute("attendee.booking")
    organiser = factory.SelfAttribute("booking.organiser")
    session = factory.SelfAttribute("booking.session")
    ticket_type = factory.SelfAttribute("attendee.line.ticket_type")
    code = factory.LazyFunction(random_code)
    secret = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    status = Ticket.Status.VALID
