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
        ApiKey,
        on_delete=models.CASCADE,
        related_name="idempotency_records",
        verbose_name=_("api key"),
    )
    key = models.CharField(max_length=128, verbose_name=_("key"))
    request_hash = models.CharField(
        max_length=64,
        help_text=_("SHA-256 of method, path and canonical JSON body"),
        verbose_name=_("request hash"),
    )
    response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("response status")
    )
    response_body = models.JSONField(
        null=True, blank=True, verbose_name=_("response body")
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created at")
    )
    started_at = models.DateTimeField(
        default=timezone.now, verbose_name=_("started at")
    )
    completed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("completed at")
    )

    class Meta:
        verbose_name = _("api idempotency record")
        verbose_name_plural = _("api idempotency records")
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
