import factory

from events.tests.factories import OrganiserFactory
from integrations.stripe_catalog.models import CatalogSyncLog


class CatalogSyncLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogSyncLog

    organiser = factory.SubFactory(OrganiserFactory)
    entity = CatalogSyncLog.Entity.EVENT
    object_id = factory.Sequence(lambda n: n + 1)
    account_id = "acct_factory"
    action = CatalogSyncLog.Action.CREATE
    status = CatalogSyncLog.Status.SUCCESS
    stripe_id = factory.Sequence(lambda n: f"prod_factory{n}")
