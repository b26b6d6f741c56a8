"""Notifications still to send when the outbox arrives get their outbox row: before
it, a beat task found them by status; now only outbox rows are dispatched."""

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

MAX_ATTEMPTS = 10
REJECTED_PREFIX = "rejected: "


def forwards(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    OutboxMessage = apps.get_model("ticketing", "OutboxMessage")
    unsent = Notification.objects.filter(
        Q(status__in=["queued", "sending"])
        | (
            Q(status="failed", provider_message_id="", attempts__lt=MAX_ATTEMPTS)
            & ~Q(last_error__startswith=REJECTED_PREFIX)
        )
    ).values_list("pk", "organiser_id")
    now = timezone.now()
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind="notifications.send",
                key=f"notification:{pk}",
                payload={"notification_id": pk},
                organiser_id=organiser_id,
                next_attempt_at=now,
            )
            for pk, organiser_id in unsent.iterator()
        ],
        batch_size=500,
        ignore_conflicts=True,  # a row already pending for it
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_from_bookings"),
        ("ticketing", "0002_outbox_message"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
