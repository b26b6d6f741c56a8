import factory

from events.tests.factories import OrganiserFactory
from invoicing.models import Invoice, InvoiceLine, Party


class PartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Party

    organiser = factory.SubFactory(OrganiserFactory)
    kind = Party.Kind.PERFORMER
    name = factory.Sequence(lambda n: f"Performer {n}")
    email = factory.Sequence(lambda n: f"performer{n}@example.org")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A draft row; tests of issuing go through `invoicing.services`."""

    class Meta:
        model = Invoice

    organiser = factory.SubFactory(OrganiserFactory)
    type = Invoice.Type.BILL
    series = "BILL"
    recipient_name = "Someone"
    currency = "EUR"


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Fee"
    unit_price_minor = 1000
    net_minor = 1000
    total_minor = 1000
