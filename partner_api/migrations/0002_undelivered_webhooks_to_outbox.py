"""Partner webhook deliveries still to post when the outbox arrives get their outbox
row: before it, a beat task found them by status; now only outbox rows are
dispatched."""

from django.db import migrations

from ticketing.lib.migrations import outbox_rows_create


def forwards(apps, schema_editor):
    Delivery = apps.get_model("partner_api", "PartnerWebhookDelivery")
    undelivered = Delivery.objects.filter(
        status__in=["pending", "failed", "sending"], next_attempt_at__isnull=False
    )
    outbox_rows_create(
        apps,
        kind="partner_api.webhook_delivery",
        key_prefix="delivery",
        field="delivery_id",
        rows=undelivered.values_list(
            "pk", "webhook__organiser_id", "next_attempt_at"
        ).iterator(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("partner_api", "0001_from_events_and_bookings"),
        ("ticketing", "0002_outbox_message"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
