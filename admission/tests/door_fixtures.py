"""A tour for door tests: one organiser, one event, a Paris and a Lyon session, two
ticket types, and tickets made as rows (issuing goes through admission.services)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bookings.models import Booking
from bookings.tests.ticket_factories import TicketFactory
from events.models import Membership, Session, TicketType
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
    VenueFactory,
)

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Tour:
    paris: Session
    lyon: Session
    regular: TicketType
    vip: TicketType

    @property
    def organiser(self):
        return self.paris.event.organiser


def tour(*, paris_at: dt.datetime, lyon_at: dt.datetime) -> Tour:
    organiser = OrganiserFactory(timezone="Europe/Paris")
    event = EventFactory(organiser=organiser, title="Piano Tour")

    def session(city: str, starts_at: dt.datetime) -> Session:
        venue = VenueFactory(
            organiser=organiser,
            name=f"Salle {city}",
            city=city,
            timezone="Europe/Paris",
        )
        return SessionFactory(
            event=event,
            venue=venue,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
        )

    return Tour(
        paris=session("Paris", paris_at),
        lyon=session("Lyon", lyon_at),
        regular=TicketTypeFactory(event=event, name="Regular", position=1),
        vip=TicketTypeFactory(event=event, name="VIP", position=2),
    )


def ticket_for(session: Session, ticket_type: TicketType, **fields):
    """A valid ticket of a confirmed booking for `session`."""
    return TicketFactory(
        attendee__line__booking__organiser=session.event.organiser,
        attendee__line__booking__event=session.event,
        attendee__line__booking__session=session,
        attendee__line__booking__status=Booking.Status.CONFIRMED,
        attendee__line__ticket_type=ticket_type,
        **fields,
    )


def door_user(organiser, username: str = "door"):
    """A staff member of `organiser` (the role that checks tickets in), whose
    password is the factories' "correct horse battery staple"."""
    user = UserFactory(username=username)
    MembershipFactory(organiser=organiser, user=user, role=Membership.Role.STAFF)
    return user
