import factory
from django.utils import timezone

from ticketing.models import Alert


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    kind = Alert.Kind.OVERSOLD
    subject = factory.Sequence(lambda n: f"session:{n}")
    message = "Oversold by 1."
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
