"""The demo's catalogue and people: two organisers with published events, sessions
and ticket types, a superuser, a manager per organiser and door staff. Used by
`seed_demo` (in `partner_api`, which adds the sales and a partner API key on top).

Idempotent: every row is keyed on a slug, a username or its natural key (organiser +
name, event + venue...) and written with update_or_create, so running it again
creates nothing new. Dates are relative to today, so the sessions stay upcoming;
running it again moves them forward. Seats already sold are left alone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils import timezone

from .models import Event, Membership, Organiser, Session, TicketType, Venue


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str


def _local(tz_name: str, days: int, hour: int, minute: int = 0) -> dt.datetime:
    """`hour:minute` on the day `days` from today, on the clock of `tz_name`."""
    tz = zoneinfo.ZoneInfo(tz_name)
    day = timezone.localdate(timezone=tz) + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


@dataclass
class Catalogue:
    paris: Organiser
    lagos: Organiser
    sold_out: Session
    past: Session


class DemoCatalogue:
    """`passwords` maps each demo username to the password to set."""

    def __init__(self, passwords: dict[str, str]):
        self.passwords = passwords

    def build(self) -> tuple[Catalogue, list[Login]]:
        logins = [self._superuser()]
        paris, sold_out, past = self._paris_masterclass()
        lagos = self._lagos_live()
        logins.append(self._member(paris, "paris-manager", Membership.Role.MANAGER))
        logins.append(self._member(lagos, "lagos-manager", Membership.Role.MANAGER))
        logins.append(self._member(paris, "paris-door", Membership.Role.STAFF))
        return Catalogue(paris, lagos, sold_out, past), logins

    # Users

    def _superuser(self) -> Login:
        password = self.passwords["admin"]
        user, _ = get_user_model().objects.update_or_create(
            username="admin",
            defaults={
                "email": "admin@example.com",
                "is_staff": True,
                "is_superuser": True,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        return Login("admin", password, "superuser, sees every organiser")

    def _member(self, organiser: Organiser, username: str, role: str) -> Login:
        password = self.passwords[username]
        user, _ = get_user_model().objects.update_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "first_name": username.split("-")[0].capitalize(),
                "last_name": username.split("-")[1].capitalize(),
                "is_staff": True,
                "is_superuser": False,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        Membership.objects.update_or_create(
            organiser=organiser, user=user, defaults={"role": role}
        )
        what = "manager" if role == Membership.Role.MANAGER else "door staff"
        return Login(username, password, f"{what} of {organiser.name}")

    # Catalogue

    def _paris_masterclass(self) -> tuple[Organiser, Session, Session]:
        tz = "Europe/Paris"
        organiser, _ = Organiser.objects.update_or_create(
            slug="paris-masterclass",
            defaults={
                "name": "Paris Masterclass",
                "country": "FR",
                "currency": "EUR",
                "timezone": tz,
                "reference_prefix": "MC26",
                "contact_email": "bonjour@paris-masterclass.example",
            },
        )
        venues = {
            city: self._venue(organiser, name, address, city, "FR", tz)
            for city, name, address in (
                ("Paris", "Salle Cortot", "78 rue Cardinet, 75017 Paris"),
                ("Lyon", "Salle Molière", "18 quai de Bondy, 69005 Lyon"),
                (
                    "Bordeaux",
                    "Auditorium de Bordeaux",
                    "9 cours Georges Clemenceau, 33000 Bordeaux",
                ),
                ("Marseille", "Salle Musicatreize", "53 rue Grignan, 13006 Marseille"),
                ("Nantes", "La Cité des Congrès", "5 rue de Valmy, 44000 Nantes"),
            )
        }
        event = self._event(
            organiser,
            slug="masterclass",
            title="Masterclass",
            description=(
                "A day-long piano masterclass: three young pianists work on "
                "Chopin, Debussy and Ravel in front of an audience, followed by a "
                "short recital.\n\nThe open rehearsal in the morning is free."
            ),
        )
        first = None
        for days, city in ((30, "Paris"), (45, "Lyon"), (60, "Bordeaux")):
            starts_at = _local(tz, days, 14)
            first = first or starts_at
            self._session(event, venues[city], starts_at, hours=4, capacity=120)
        # A small hall that the sales seeded on top fill, and a date already played
        # (the sales are seeded while it is upcoming, then it is moved to the past).
        sold_out = self._session(
            event, venues["Marseille"], _local(tz, 20, 14), hours=4, capacity=12
        )
        # The early bird ends at 23:59 local time, two weeks before the first date.
        deadline = _local(tz, 15, 23, 59)
        if deadline >= first:
            raise CommandError("The early bird must end before the first session.")
        self._ticket_type(
            event,
            "Early bird",
            kind=TicketType.Kind.EARLY_BIRD,
            position=1,
            price_minor=9_000,
            early_bird_price_minor=6_500,
            early_bird_deadline_at=deadline,
            allocation=30,
            max_per_order=4,
            description="Book early: the price goes up when the early bird ends.",
        )
        self._ticket_type(
            event,
            "Regular",
            kind=TicketType.Kind.REGULAR,
            position=2,
            price_minor=9_000,
        )
        self._ticket_type(
            event,
            "Group (5 or more)",
            kind=TicketType.Kind.GROUP,
            position=3,
            price_minor=9_000,
            group_min_quantity=5,
            group_discount_percent=Decimal("10"),
            min_per_order=5,
            max_per_order=20,
            description="For schools and choirs: 10% off from 5 tickets.",
        )
        self._ticket_type(
            event,
            "Open rehearsal",
            kind=TicketType.Kind.REGULAR,
            position=4,
            price_minor=0,
            allocation=40,
            max_per_order=2,
            description="Free: watch the morning rehearsal before the masterclass.",
        )
        return organiser, sold_out, self._autumn_recital(organiser, venues["Nantes"])

    def _autumn_recital(self, organiser: Organiser, venue: Venue) -> Session:
        """An event already played: its own event, so that the masterclass's early
        bird still ends before its first date."""
        event = self._event(
            organiser,
            slug="autumn-recital",
            title="Autumn recital",
            description="Last season's closing recital in Nantes.",
        )
        self._ticket_type(
            event, "Regular", kind=TicketType.Kind.REGULAR, position=1,
            price_minor=4_500,
        )
        tz = organiser.timezone
        return self._session(event, venue, _local(tz, 10, 20), hours=2, capacity=60)

    def _lagos_live(self) -> Organiser:
        tz = "Africa/Lagos"
        organiser, _ = Organiser.objects.update_or_create(
            slug="lagos-live",
            defaults={
                "name": "Lagos Live",
                "country": "NG",
                "currency": "NGN",
                "timezone": tz,
                "reference_prefix": "LL26",
                "contact_email": "hello@lagos-live.example",
            },
        )
        venue = self._venue(
            organiser,
            "Muson Centre",
            "8/9 Marina Road, Onikan",
            "Lagos",
            "NG",
            tz,
        )
        event = self._event(
            organiser,
            slug="lagos-live-concert",
            title="Lagos Live: Afrobeats Night",
            description=(
                "Five acts, one stage: a night of Afrobeats, highlife and jùjú at "
                "the Muson Centre. Doors open one hour before the show."
            ),
        )
        self._session(event, venue, _local(tz, 40, 19), hours=5, capacity=800)
        self._ticket_type(
            event,
            "General admission",
            kind=TicketType.Kind.REGULAR,
            position=1,
            price_minor=1_500_000,  # NGN 15,000.00 in kobo
            early_bird_price_minor=1_000_000,
            early_bird_deadline_at=_local(tz, 20, 23, 59),
        )
        self._ticket_type(
            event,
            "VIP table",
            kind=TicketType.Kind.REGULAR,
            position=2,
            price_minor=5_000_000,
            allocation=50,
            max_per_order=6,
            description="Seated, with a drink at the bar.",
        )
        return organiser

    # Row helpers: each keyed on a natural key, updated in place on a re-run.

    def _venue(
        self,
        organiser: Organiser,
        name: str,
        address: str,
        city: str,
        country: str,
        tz: str,
    ) -> Venue:
        venue, _ = Venue.objects.update_or_create(
            organiser=organiser,
            name=name,
            defaults={
                "address": address,
                "city": city,
                "country": country,
                "timezone": tz,
            },
        )
        return venue

    def _event(
        self, organiser: Organiser, *, slug: str, title: str, description: str
    ) -> Event:
        event, _ = Event.objects.update_or_create(
            slug=slug,
            defaults={
                "organiser": organiser,
                "title": title,
                "description": description,
                "status": Event.Status.PUBLISHED,
                "currency": organiser.currency,
                "timezone": organiser.timezone,
                "sales_start_at": None,
                "sales_end_at": None,
            },
        )
        return event

    def _session(
        self,
        event: Event,
        venue: Venue,
        starts_at: dt.datetime,
        *,
        hours: int,
        capacity: int,
    ) -> Session:
        session, _ = Session.objects.update_or_create(
            event=event,
            venue=venue,
            defaults={
                "starts_at": starts_at,
                "ends_at": starts_at + dt.timedelta(hours=hours),
                "capacity": capacity,
                "sale_status": Session.SaleStatus.ON_SALE,
            },
        )
        return session

    def _ticket_type(self, event: Event, name: str, **fields) -> TicketType:
        defaults = {
            "description": "",
            "early_bird_price_minor": None,
            "early_bird_deadline_at": None,
            "group_min_quantity": None,
            "group_discount_percent": None,
            "allocation": None,
            "min_per_order": 1,
            "max_per_order": 10,
            "is_active": True,
            **fields,
        }
        ticket_type, _ = TicketType.objects.update_or_create(
            event=event, name=name, defaults=defaults
        )
        return ticket_type

