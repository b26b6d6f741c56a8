"""Partner webhook endpoints of an organiser and the deliveries made to them.

Imported by `partner_api/models.py`, so the app registry finds them; the tables keep
their names from `bookings`, where they began.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from events.models import Organiser
from ticketing.lib import crypto
from ticketing.lib.netguard import endpoint_problem

BOOKING_CONFIRMED = "booking.confirmed"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_REFUNDED = "booking.refunded"
TICKET_CHECKED_IN = "ticket.checked_in"
EVENT_CHOICES = [
    (BOOKING_CONFIRMED, _("Booking confirmed")),
    (BOOKING_CANCELLED, _("Booking cancelled")),
    (BOOKING_REFUNDED, _("Booking refunded")),
    (TICKET_CHECKED_IN, _("Ticket checked in")),
]
EVENT_TYPES = frozenset(value for value, _label in EVENT_CHOICES)

SECRET_PREFIX = "whsec_"


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def validate_events(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Choose at least one event."))
    unknown = [item for item in value if item not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            _("Unknown events: %(events)s"),
            params={"events": ", ".join(map(str, unknown))},
        )


def validate_endpoint_url(value: str) -> None:
    """HTTPS only (plain HTTP is accepted with DEBUG, for local receivers), to a
    host that resolves, to public addresses only: the name is resolved now and
    again at each delivery, whose connection goes to the address it judged.
    `PARTNER_WEBHOOKS_ALLOW_LOOPBACK` (tests and local development) lets loopback
    addresses through."""
    if not value.startswith("https://") and not (
        settings.DEBUG and value.startswith("http://")
    ):
        raise ValidationError(_("The endpoint must be an https:// URL."))
    problem = endpoint_problem(
        value, allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK
    )
    if problem == "does not resolve":
        raise ValidationError(_("The endpoint's host name does not resolve."))
    if problem:
        raise ValidationError(_("The endpoint must be a public address."))


class PartnerWebhook(models.Model):
    """An endpoint an organiser registered to receive some events, signed with its
    secret. The secret is stored encrypted (`ticketing.lib.crypto`)."""

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="partner_webhooks",
        verbose_name=_("organiser"),
    )
    url = models.URLField(
        _("endpoint URL"), max_length=500, validators=[validate_endpoint_url]
    )
    events = models.JSONField(
        default=list, validators=[validate_events], verbose_name=_("events")
    )
    secret_encrypted = models.TextField(
        editable=False, verbose_name=_("secret encrypted")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        db_table = "bookings_partnerwebhook"
        ordering = ["id"]
        verbose_name = _("partner webhook")
        verbose_name_plural = _("partner webhooks")

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @property
    def secret_masked(self) -> str:
        secret = self.secret
        return f"{SECRET_PREFIX}…{secret[-4:]}" if secret else ""

    def save(self, *args, **kwargs):
        if not self.secret_encrypted:
            self.secret = secret_generate()
        super().save(*args, **kwargs)


class PartnerWebhookDelivery(models.Model):
    """One event for one endpoint, and every attempt to post it.

    `next_attempt_at` is when the row may be claimed: creation time for a new row, the
    backoff for a failed one, a lease while sending (a worker lost mid-send frees it),
    and empty once succeeded or given up.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    webhook = models.ForeignKey(
        PartnerWebhook,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("webhook"),
    )
    event = models.CharField(
        max_length=40, choices=EVENT_CHOICES, verbose_name=_("event")
    )
    payload = models.JSONField(verbose_name=_("payload"))
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
        verbose_name=_("status"),
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    last_status_code = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("last status code")
    )
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    # One entry per attempt: {"at", "status_code", "error", "duration_ms"}.
    attempt_log = models.JSONField(
        default=list, blank=True, verbose_name=_("attempt log")
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("next attempt at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    delivered_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("delivered at")
    )

    class Meta:
        db_table = "bookings_partnerwebhookdelivery"
        ordering = ["-created_at", "-id"]
        verbose_name = _("partner webhook delivery")
        verbose_name_plural = _("partner webhook deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="partnerwh_delivery_due",
                condition=models.Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"
