"""Emails and SMS to buyers (the table keeps its name from `bookings`)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking
from events.models import Organiser


class Notification(models.Model):
    """An email or SMS to a buyer, written in the transaction of the change that causes
    it (the outbox) and sent afterwards by a task with retries."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class Template(models.TextChoices):
        CONFIRMATION = "confirmation", _("Booking confirmed")
        CANCELLATION = "cancellation", _("Booking cancelled")
        REFUND = "refund", _("Refund")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        HOLD_EXPIRING = "hold_expiring", _("Hold expiring soon")
        HOLD_EXPIRED = "hold_expired", _("Hold expired unpaid")
        PAYMENT_INSTRUCTIONS = "payment_instructions", _("Payment instructions")
        LOOKUP = "lookup", _("Booking link, asked for on the lookup page")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        DELIVERED = "delivered", _("Delivered")
        BOUNCED = "bounced", _("Bounced")
        SKIPPED = "skipped", _("Skipped: provider not configured")

    booking = models.ForeignKey(
        Booking,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("booking"),
    )
    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        related_name="notifications",
        verbose_name=_("organiser"),
    )
    channel = models.CharField(
        max_length=5, choices=Channel.choices, verbose_name=_("channel")
    )
    template = models.CharField(
        max_length=20, choices=Template.choices, verbose_name=_("template")
    )
    recipient = models.CharField(max_length=254, verbose_name=_("recipient"))
    language = models.CharField(max_length=10, default="en", verbose_name=_("language"))
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.QUEUED,
        verbose_name=_("status"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    provider_message_id = models.CharField(
        max_length=200, blank=True, db_index=True, verbose_name=_("provider message id")
    )
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        db_table = "bookings_notification"  # kept from bookings, where it began
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} to {self.recipient}"
