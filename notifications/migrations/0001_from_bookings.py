"""Notification, taken over from `bookings` with its table and content type."""

import django.db.models.deletion
from django.db import migrations, models

from ticketing.lib.migrations import content_types_move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ('bookings', '0011_models_moved_to_admission_notifications_partner_api'),
        ('events', '0009_apikey_moved_to_partner_api'),
    ]

    operations = [
        # The tables stay where they are: only Django's idea of which app owns
        # them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Notification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('channel', models.CharField(choices=[('email', 'Email'), ('sms', 'SMS')], max_length=5)),
                        ('template', models.CharField(choices=[('confirmation', 'Booking confirmed'), ('cancellation', 'Booking cancelled'), ('refund', 'Refund'), ('payment_failed', 'Payment failed'), ('hold_expiring', 'Hold expiring soon'), ('payment_instructions', 'Payment instructions'), ('lookup', 'Booking link, asked for on the lookup page')], max_length=20)),
                        ('recipient', models.CharField(max_length=254)),
                        ('language', models.CharField(default='en', max_length=10)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed'), ('delivered', 'Delivered'), ('bounced', 'Bounced'), ('skipped', 'Skipped: provider not configured')], default='queued', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('provider_message_id', models.CharField(blank=True, db_index=True, max_length=200)),
                        ('last_error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('booking', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='bookings.booking')),
                        ('organiser', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='notifications', to='events.organiser')),
                    ],
                    options={
                        'db_table': 'bookings_notification',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['status', 'updated_at'], name='bookings_no_status_cce3c4_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(('notification',), from_app='bookings', to_app='notifications'),
    ]
