import datetime as dt

import factory
from django.utils import timezone

from bookings.models import Attendee, Booking, BookingLine, DiscountCode
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
)


class BookingFactory(factory.django.DjangoModelFactory):
    """A pending booking of one ticket, its organiser, event and session consistent.

    Rows only: tests of selling go through `bookings.services`, never this factory.
    """

    class Meta:
        model = Booking

    organiser = factory.SubFactory(OrganiserFactory)
    event = factory.SubFactory(
        EventFactory, organiser=factory.SelfAttribute("..organiser")
    )
    session = factory.SubFactory(SessionFactory, event=factory.SelfAttribute("..event"))
    reference = factory.Sequence(lambda n: f"FACT-{n:06d}")
    status = Booking.Status.PENDING
    quantity = 1
    currency = factory.LazyAttribute(lambda booking: booking.event.currency)
    subtotal_minor = 5000
    total_minor = 5000
    buyer_name = "Ada Lovelace"
    buyer_email = "ada@example.org"
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(minutes=15))


class BookingLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BookingLine

    booking = factory.SubFactory(BookingFactory)
    ticket_type = factory.SubFactory(
        TicketTypeFactory, event=factory.SelfAttribute("..booking.event")
    )
    quantity = 1
    unit_price_minor = 5000
    subtotal_minor = 5000
    total_minor = 5000
    price_rule = "regular"


class AttendeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attendee

    line = factory.SubFactory(BookingLineFactory)
    booking = factory.SelfAttribute("line.booking")
    name = "Charles Babbage"


class DiscountCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DiscountCode

    organiser = factory.SubFactory(OrganiserFactory)
    code = factory.Sequence(lambda n: f"SAVE{n}")
    kind = DiscountCode.Kind.PERCENT
    percent = 10
