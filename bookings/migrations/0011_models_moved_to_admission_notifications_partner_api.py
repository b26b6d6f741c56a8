"""CheckIn and BookingDocument moved to `admission`, Notification to `notifications`,
ApiIdempotencyRecord and the partner webhooks to `partner_api`: gone from this app's
state, their tables kept (the new apps' 0001 migrations take them over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0010_booking_tax_and_billing'),
    ]

    operations = [
        # The tables stay where they are: only Django's idea of which app owns
        # them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='bookingdocument',
                    name='booking',
                ),
                migrations.RemoveField(
                    model_name='checkin',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='checkin',
                    name='ticket',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='booking',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='organiser',
                ),
                migrations.RemoveField(
                    model_name='partnerwebhook',
                    name='organiser',
                ),
                migrations.RemoveField(
                    model_name='partnerwebhookdelivery',
                    name='webhook',
                ),
                migrations.DeleteModel(
                    name='ApiIdempotencyRecord',
                ),
                migrations.DeleteModel(
                    name='BookingDocument',
                ),
                migrations.DeleteModel(
                    name='CheckIn',
                ),
                migrations.DeleteModel(
                    name='Notification',
                ),
                migrations.DeleteModel(
                    name='PartnerWebhook',
                ),
                migrations.DeleteModel(
                    name='PartnerWebhookDelivery',
                ),
            ],
            database_operations=[],
        ),
    ]
