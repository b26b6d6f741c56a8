import factory

from events.tests.factories import OrganiserFactory, SessionFactory
from integrations.models import (
    Connection,
    ExternalOrder,
    Listing,
    OversoldAlert,
    Platform,
    PlatformWebhook,
    SyncRun,
)
from ticketing.lib import crypto


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        django_get_or_create = ("organiser", "platform")

    organiser = factory.SubFactory(OrganiserFactory)
    platform = Platform.BILLETWEB
    account_id = "4242"
    credentials_encrypted = factory.LazyFunction(lambda: crypto.encrypt("bw-key"))


class ListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listing

    connection = factory.SubFactory(ConnectionFactory)
    session = factory.SubFactory(
        SessionFactory,
        event__organiser=factory.SelfAttribute("...connection.organiser"),
    )
    external_event_id = factory.Sequence(lambda n: str(1000 + n))
    external_date_id = factory.Sequence(lambda n: str(5000 + n))


class ExternalOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExternalOrder

    listing = factory.SubFactory(ListingFactory)
    external_id = factory.Sequence(lambda n: str(90000 + n))
    status = ExternalOrder.Status.ACTIVE
    quantity = 1
    tickets = factory.LazyAttribute(
        lambda order: {f"t{order.external_id}": {"active": True, "quantity": 1}}
    )


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    connection = factory.SubFactory(ConnectionFactory)
    platform = factory.LazyAttribute(lambda run: run.connection.platform)
    trigger = SyncRun.Trigger.SCHEDULE


class PlatformWebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlatformWebhook

    connection = factory.SubFactory(ConnectionFactory, platform=Platform.EVENTBRITE)
    platform = Platform.EVENTBRITE
    action = "order.placed"


class OversoldAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OversoldAlert

    session = factory.SubFactory(SessionFactory)
    capacity = 10
    sold_here = 8
    held_here = 0
    sold_external = 4
