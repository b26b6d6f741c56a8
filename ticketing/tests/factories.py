import factory
from django.utils import timezone

from ticketing.models import OutboxMessage


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboxMessage

    kind = "test.kind"
    key = factory.Sequence(lambda n: f"object:{n}")
    payload = factory.Dict({"id": 1})
    next_attempt_at = factory.LazyFunction(timezone.now)
