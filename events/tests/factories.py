import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from events.models import (
    Event,
    Membership,
    Organiser,
    Session,
    TaxRate,
    TicketType,
    Venue,
)
from ticketing.models import AuditEntry


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
    is_staff = True


class OrganiserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organiser

    name = factory.Sequence(lambda n: f"Organiser {n}")
    slug = factory.Sequence(lambda n: f"organiser-{n}")
    country = "FR"
    currency = "EUR"
    timezone = "Europe/Paris"
    reference_prefix = factory.Sequence(
        lambda n: "TR" + "".join("ABCDEFGHJKLMNPQRSTUVWXYZ"[int(d)] for d in f"{n:04d}")
    )
    contact_email = "hello@example.com"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organiser = factory.SubFactory(OrganiserFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MANAGER


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Venue

    organiser = factory.SubFactory(OrganiserFactory)
    name = factory.Sequence(lambda n: f"Hall {n}")
    address = "1 rue de la Paix"
    city = "Paris"
    country = "FR"
    timezone = "Europe/Paris"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    organiser = factory.SubFactory(OrganiserFactory)
    title = factory.Sequence(lambda n: f"Event {n}")
    slug = factory.Sequence(lambda n: f"event-{n}")
    status = Event.Status.PUBLISHED
    currency = factory.LazyAttribute(lambda event: event.organiser.currency)
    timezone = factory.LazyAttribute(lambda event: event.organiser.timezone)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    event = factory.SubFactory(EventFactory)
    venue = factory.SubFactory(
        VenueFactory, organiser=factory.SelfAttribute("..event.organiser")
    )
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + dt.timedelta(hours=3))
    capacity = 100


class TicketTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketType

    event = factory.SubFactory(EventFactory)
    name = factory.Sequence(lambda n: f"Ticket {n}")
    price_minor = 5000


class AuditEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEntry

    organiser_id = factory.LazyAttribute(lambda entry: OrganiserFactory().pk)
    actor_label = "system"
    action = "events.event.published"


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate

    organiser = factory.SubFactory(OrganiserFactory)
    name = factory.Sequence(lambda n: f"VAT {n}")
    percent = 20
    account_code = "OUTPUT"
