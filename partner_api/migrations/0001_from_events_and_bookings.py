"""ApiKey (from `events`), ApiIdempotencyRecord and the partner webhooks (from
`bookings`), taken over with their tables and content types."""

import django.db.models.deletion
import django.utils.timezone
import partner_api.webhooks.models
from django.conf import settings
from django.db import migrations, models

from ticketing.lib.migrations import content_types_move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("bookings", "0011_models_moved_to_admission_notifications_partner_api"),
        ('events', '0009_apikey_moved_to_partner_api'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay where they are: only Django's idea of which app owns
        # them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('prefix', models.CharField(editable=False, max_length=16, unique=True)),
                        ('secret_hash', models.CharField(editable=False, max_length=64)),
                        ('scopes', models.JSONField(default=list, help_text='read, write, checkin, sync')),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organiser', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_keys', to='events.organiser')),
                    ],
                    options={
                        'db_table': 'events_apikey',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='PartnerWebhook',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=500, validators=[partner_api.webhooks.models.validate_endpoint_url], verbose_name='endpoint URL')),
                        ('events', models.JSONField(default=list, validators=[partner_api.webhooks.models.validate_events])),
                        ('secret_encrypted', models.TextField(editable=False)),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('organiser', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='partner_webhooks', to='events.organiser')),
                    ],
                    options={
                        'verbose_name': 'partner webhook',
                        'db_table': 'bookings_partnerwebhook',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='ApiIdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=128)),
                        ('request_hash', models.CharField(help_text='SHA-256 of method, path and canonical JSON body', max_length=64)),
                        ('response_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('response_body', models.JSONField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('api_key', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='idempotency_records', to='partner_api.apikey')),
                    ],
                    options={
                        'db_table': 'bookings_apiidempotencyrecord',
                        'constraints': [models.UniqueConstraint(fields=('api_key', 'key'), name='api_idempotency_unique_key')],
                    },
                ),
                migrations.CreateModel(
                    name='PartnerWebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.CharField(choices=[('booking.confirmed', 'Booking confirmed'), ('booking.cancelled', 'Booking cancelled'), ('booking.refunded', 'Booking refunded'), ('ticket.checked_in', 'Ticket checked in')], max_length=40)),
                        ('payload', models.JSONField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='pending', max_length=10)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('attempt_log', models.JSONField(blank=True, default=list)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='partner_api.partnerwebhook')),
                    ],
                    options={
                        'verbose_name': 'partner webhook delivery',
                        'verbose_name_plural': 'partner webhook deliveries',
                        'db_table': 'bookings_partnerwebhookdelivery',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(condition=models.Q(('next_attempt_at__isnull', False)), fields=['next_attempt_at'], name='partnerwh_delivery_due')],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(('apikey',), from_app='events', to_app='partner_api'),
        content_types_move(('apiidempotencyrecord', 'partnerwebhook', 'partnerwebhookdelivery'), from_app='bookings', to_app='partner_api'),
    ]
