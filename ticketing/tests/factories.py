import factory
from django.utils import timezone

from ticketing.models import Alert, OutboxMessage


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboxMessage

    kind = "test.kind"
    key = factory.Sequence(lambda n: f"object:{n}")
    payload = factory.Dict({"id": 1})
    next_attempt_at = factory.LazyFunction(timezone.now)


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    kind = Alert.Kind.OVERSOLD
    subject = factory.Sequence(lambda n: f"session:{n}")
    message = "Oversold by 1."
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
