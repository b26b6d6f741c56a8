import factory

from bookings.tests.factories import BookingFactory
from events.tests.factories import OrganiserFactory
from payments.models import (
    ConnectedAccount,
    Payment,
    ProviderAccount,
    Refund,
    WebhookDelivery,
)


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    organiser = factory.SubFactory(OrganiserFactory)
    provider = "stripe"
    public_key = "pk_test_factory"
    secret_key_encrypted = ""


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment row only; flows go through `payments.services`."""

    class Meta:
        model = Payment

    organiser = factory.SubFactory(OrganiserFactory)
    booking = factory.SubFactory(
        BookingFactory, organiser=factory.SelfAttribute("..organiser")
    )
    provider = "stripe"
    provider_reference = factory.Sequence(lambda n: f"pi_factory_{n}")
    amount_minor = factory.SelfAttribute("booking.total_minor")
    currency = factory.SelfAttribute("booking.currency")


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    organiser = factory.SubFactory(OrganiserFactory)
    payment = factory.SubFactory(
        PaymentFactory,
        organiser=factory.SelfAttribute("..organiser"),
        status="succeeded",
    )
    amount_minor = 1000
    currency = factory.SelfAttribute("payment.currency")


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    organiser = factory.SubFactory(OrganiserFactory)
    provider = "stripe"
    event_id = factory.Sequence(lambda n: f"evt_factory_{n}")
    event_type = "payment_intent.succeeded"
    raw_body = "{}"
    signature_valid = True


class ConnectedAccountFactory(factory.django.DjangoModelFactory):
    """A row only; linking goes through `connected_account_link`."""

    class Meta:
        model = ConnectedAccount

    organiser = factory.SubFactory(OrganiserFactory)
    account_id = factory.Sequence(lambda n: f"acct_factory{n}")
