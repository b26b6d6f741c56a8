"""The partner API's models: keys, idempotency records and partner webhooks.

Their tables keep the names they had in `events` and `bookings` (see the migration
`0001_from_events_and_bookings`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .api_keys import ApiKey
from .webhooks.models import PartnerWebhook, PartnerWebhookDelivery

__all__ = ["ApiIdempotencyRecord", "ApiKey", "PartnerWebhook", "PartnerWebhookDelivery"]


class ApiIdempotencyRecord(models.Model):
    """One `Idempotency-Key` of a partner API key (`partner_api/idempotency.py`).

    Inserted before the work runs (`response_status` empty: in progress), then filled
    with the response, so a replay within the window gets the same answer.
    """

    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=128)
    request_hash = models.CharField(
        max_length=64, help_text=_("SHA-256 of method, path and canonical JSON body")
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "bookings_apiidempotencyrecord"  # kept from bookings, where it began
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "key"], name="api_idempotency_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.key}"

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None
