"""ApiKey moved to `partner_api`, its table `events_apikey` kept."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0011_models_moved_to_admission_notifications_partner_api'),
        ('events', '0008_tax_rates_and_organiser_legal_details'),
    ]

    operations = [
        # The tables stay where they are: only Django's idea of which app owns
        # them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='ApiKey',
                ),
            ],
            database_operations=[],
        ),
    ]
