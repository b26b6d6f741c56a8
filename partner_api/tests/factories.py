import factory

from events.tests.factories import OrganiserFactory


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key row; `ApiKey.generate` makes real ones (with their plain text)."""

    class Meta:
        model = "partner_api.ApiKey"

    organiser = factory.SubFactory(OrganiserFactory)
    name = factory.Sequence(lambda n: f"Partner {n}")
    prefix = factory.Sequence(lambda n: f"{n:012x}")
    secret_hash = "0" * 64
    scopes = factory.LazyFunction(lambda: ["read"])


class PartnerWebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "partner_api.PartnerWebhook"

    organiser = factory.SubFactory(OrganiserFactory)
    url = factory.Sequence(lambda n: f"https://partner{n}.example.com/hooks")
    events = factory.LazyFunction(lambda: ["booking.confirmed"])


class PartnerWebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "partner_api.PartnerWebhookDelivery"

    webhook = factory.SubFactory(PartnerWebhookFactory)
    event = "booking.confirmed"
    payload = factory.LazyFunction(
        lambda: {"id": "evt_test", "type": "booking.confirmed", "data": {}}
    )
