import factory

from events.tests.factories import OrganiserFactory
from integrations.xero.models import XeroConnection


class XeroConnectionFactory(factory.django.DjangoModelFactory):
    """A connection row (no tokens: tests that call the fake connect through it)."""

    class Meta:
        model = XeroConnection

    organiser = factory.SubFactory(OrganiserFactory)
    status = XeroConnection.Status.ACTIVE
    tenant_id = factory.Sequence(lambda n: f"tenant-{n}")
    tenant_name = factory.Sequence(lambda n: f"Books {n}")
