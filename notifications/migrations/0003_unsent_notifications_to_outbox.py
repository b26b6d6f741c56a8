"""Notifications still to send when the outbox arrives get their outbox row: before
it, a beat task found them by status; now only outbox rows are dispatched."""

from django.db import migrations
from django.db.models import DateTimeField, Q, Value

from ticketing.lib.migrations import outbox_rows_create


def forwards(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    unsent = Notification.objects.filter(
        Q(status__in=["queued", "sending"])
        | (
            Q(status="failed", provider_message_id="", attempts__lt=10)
            & ~Q(last_error__startswith="rejected: ")
        )
    ).annotate(due=Value(None, output_field=DateTimeField()))
    outbox_rows_create(
        apps,
        kind="notifications.send",
        key_prefix="notification",
        field="notification_id",
        rows=unsent.values_list("pk", "organiser_id", "due").iterator(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_notification_hold_expired_template"),
        ("ticketing", "0002_outbox_message"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
