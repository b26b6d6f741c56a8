"""Partner webhook deliveries still to post when the outbox arrives get their outbox
row: before it, a beat task found them by status; now only outbox rows are
dispatched."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Delivery = apps.get_model("partner_api", "PartnerWebhookDelivery")
    OutboxMessage = apps.get_model("ticketing", "OutboxMessage")
    undelivered = Delivery.objects.filter(
        status__in=["pending", "failed", "sending"], next_attempt_at__isnull=False
    ).values_list("pk", "webhook__organiser_id", "next_attempt_at")
    now = timezone.now()
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind="partner_api.webhook_delivery",
                key=f"delivery:{pk}",
                payload={"delivery_id": pk},
                organiser_id=organiser_id,
                next_attempt_at=max(due, now),
            )
            for pk, organiser_id, due in undelivered.iterator()
        ],
        batch_size=500,
        ignore_conflicts=True,  # a row already pending for it
    )


class Migration(migrations.Migration):
    dependencies = [
        ("partner_api", "0001_from_events_and_bookings"),
        ("ticketing", "0002_outbox_message"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
