"""CheckIn and BookingDocument, taken over from `bookings` with their tables and
content types (so audit entries and permissions follow)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from ticketing.lib.migrations import content_types_move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ('bookings', '0011_models_moved_to_admission_notifications_partner_api'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay where they are: only Django's idea of which app owns
        # them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='BookingDocument',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('pdf', models.FileField(max_length=300, upload_to='tickets/')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('booking', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='document', to='bookings.booking')),
                    ],
                    options={
                        'db_table': 'bookings_bookingdocument',
                    },
                ),
                migrations.CreateModel(
                    name='CheckIn',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(choices=[('check_in', 'Checked in'), ('undo', 'Undone')], max_length=10)),
                        ('actor_label', models.CharField(blank=True, max_length=100)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('ticket', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='check_ins', to='bookings.ticket')),
                    ],
                    options={
                        'db_table': 'bookings_checkin',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(('checkin', 'bookingdocument'), from_app='bookings', to_app='admission'),
    ]
