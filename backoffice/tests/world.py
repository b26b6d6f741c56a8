"""Sales rows for back-office tests, written directly: these tests read figures,
they do not test selling (that is `bookings`' business)."""

import datetime as dt

from django.utils import timezone

from bookings.models import Booking
from bookings.services import BuyerInput, LineInput, booking_confirm, booking_create
from bookings.tests.factories import BookingFactory
from bookings.tests.helpers import attendees
from events.tests.factories import EventFactory, SessionFactory
from integrations.models import Platform
from integrations.tests.factories import (
    ConnectionFactory,
    ExternalOrderFactory,
    ListingFactory,
)


def sale(
    session,
    quantity,
    total_minor,
    *,
    channel="web",
    comp=False,
    when=None,
    status=Booking.Status.CONFIRMED,
    **fields,
):
    when = when or timezone.now()
    return BookingFactory(
        organiser=session.event.organiser,
        event=session.event,
        session=session,
        status=status,
        channel=channel,
        is_complimentary=comp,
        quantity=quantity,
        subtotal_minor=total_minor + fields.get("discount_minor", 0),
        total_minor=total_minor,
        confirmed_at=when if status != Booking.Status.PENDING else None,
        expires_at=None
        if status != Booking.Status.PENDING
        else timezone.now() + dt.timedelta(minutes=10),
        **fields,
    )


def platform_sale(session, quantity, platform=Platform.BILLETWEB, when=None):
    connection = ConnectionFactory(organiser=session.event.organiser, platform=platform)
    listing = session.platform_listings.filter(connection=connection).first()
    if listing is None:
        listing = ListingFactory(connection=connection, session=session)
    listing.places_sold += quantity
    listing.save(update_fields=["places_sold"])
    return ExternalOrderFactory(
        listing=listing, quantity=quantity, placed_at=when or timezone.now()
    )


def events_with_sales(organiser, count):
    """`count` events, each with one upcoming session and sales on every channel."""
    for _ in range(count):
        session = SessionFactory(event=EventFactory(organiser=organiser), capacity=50)
        sale(session, 2, 9000)
        sale(session, 1, 4500, channel="api")
        sale(session, 1, 0, channel="admin", comp=True)
        sale(session, 1, 4500, status=Booking.Status.PENDING)
        platform_sale(session, 3)


def booked(session, lines, *, channel="web", code="", comp=False, confirm=True):
    """A booking through the real services (pricing, tax, discount codes), confirmed
    unless told otherwise."""
    booking = booking_create(
        session_id=session.pk,
        lines=[LineInput(tt.pk, quantity) for tt, quantity in lines],
        buyer=BuyerInput(name="Buyer", email=f"b{session.pk}{channel}@example.org"),
        attendees=attendees(sum(quantity for _, quantity in lines)),
        channel=channel,
        discount_code=code,
        complimentary=comp,
        confirm=channel == "admin" and not comp,
    )
    if confirm and booking.status == Booking.Status.PENDING:
        booking_confirm(booking_id=booking.pk)
    return Booking.objects.get(pk=booking.pk)
