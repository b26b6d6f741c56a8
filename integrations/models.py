"""Connections to external platforms, the listings they sell, what we imported from
them, and the record of every sync and inbound webhook."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Organiser, Session
from ticketing.lib import crypto


class Platform(models.TextChoices):
    BILLETWEB = "billetweb", "Billetweb"
    HUMANITIX = "humanitix", "Humanitix"
    EVENTBRITE = "eventbrite", "Eventbrite"


def _webhook_token() -> str:
    return secrets.token_urlsafe(24)


class Connection(models.Model):
    """One organiser's account on one platform: credentials and sync settings."""

    organiser = models.ForeignKey(
        Organiser,
        verbose_name=_("organiser"),
        on_delete=models.CASCADE,
        related_name="platform_connections",
    )
    platform = models.CharField(
        verbose_name=_("platform"), max_length=20, choices=Platform.choices
    )
    name = models.CharField(verbose_name=_("name"), max_length=100, blank=True)
    account_id = models.CharField(
        verbose_name=_("account id"),
        max_length=100,
        blank=True,
        help_text=_(
            "Billetweb user id, Eventbrite organization id, or Humanitix region "
            "(ISO country code) when it is not the account's own."
        ),
    )
    credentials_encrypted = models.TextField(
        verbose_name=_("credentials encrypted"), blank=True, editable=False
    )
    is_enabled = models.BooleanField(verbose_name=_("is enabled"), default=True)
    sync_interval_minutes = models.PositiveIntegerField(
        verbose_name=_("sync interval minutes"),
        default=15,
        help_text=_("How often Celery beat syncs this connection."),
    )
    webhook_token = models.CharField(
        verbose_name=_("webhook token"),
        max_length=64,
        unique=True,
        default=_webhook_token,
        editable=False,
    )
    auth_failed_at = models.DateTimeField(
        verbose_name=_("auth failed at"), null=True, blank=True, editable=False
    )
    last_sync_at = models.DateTimeField(
        verbose_name=_("last sync at"), null=True, blank=True, editable=False
    )
    last_success_at = models.DateTimeField(
        verbose_name=_("last success at"), null=True, blank=True, editable=False
    )
    last_error = models.TextField(
        verbose_name=_("last error"), blank=True, editable=False
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, editable=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "platform"], name="connection_one_per_platform"
            ),
            models.CheckConstraint(
                condition=models.Q(sync_interval_minutes__gte=1),
                name="connection_interval_positive",
            ),
        ]
        ordering = ["organiser_id", "platform"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")

    def __str__(self) -> str:
        label = self.name or self.get_platform_display()
        return f"{label} ({self.organiser})" if self.organiser_id else label

    @property
    def credentials(self) -> str:
        return crypto.decrypt(self.credentials_encrypted)

    def set_credentials(self, token: str) -> None:
        self.credentials_encrypted = crypto.encrypt(token)

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)

    @property
    def schedule_name(self) -> str:
        return f"integrations-sync-connection-{self.pk}"


class Listing(models.Model):
    """A local session sold on a platform: which event / date / ticket classes there,
    and the last good figures fetched for it."""

    connection = models.ForeignKey(
        Connection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="listings",
    )
    session = models.ForeignKey(
        Session,
        verbose_name=_("session"),
        on_delete=models.CASCADE,
        related_name="platform_listings",
    )
    external_event_id = models.CharField(
        verbose_name=_("external event id"), max_length=100
    )
    external_date_id = models.CharField(
        verbose_name=_("external date id"),
        max_length=100,
        blank=True,
        help_text=_("Billetweb date or Humanitix event date; empty for Eventbrite."),
    )
    external_ticket_ids = models.JSONField(
        verbose_name=_("external ticket ids"),
        default=list,
        blank=True,
        help_text=_(
            "Ticket class / ticket type ids that count for this session; empty "
            "means all of them."
        ),
    )
    is_enabled = models.BooleanField(verbose_name=_("is enabled"), default=True)
    places_total = models.PositiveIntegerField(
        verbose_name=_("places total"), null=True, blank=True, editable=False
    )
    places_sold = models.PositiveIntegerField(
        verbose_name=_("places sold"), default=0, editable=False
    )
    values_synced_at = models.DateTimeField(
        verbose_name=_("values synced at"), null=True, blank=True, editable=False
    )
    is_stale = models.BooleanField(
        verbose_name=_("is stale"), default=False, editable=False
    )
    last_error = models.TextField(
        verbose_name=_("last error"), blank=True, editable=False
    )
    last_error_at = models.DateTimeField(
        verbose_name=_("last error at"), null=True, blank=True, editable=False
    )
    orders_synced_until = models.DateTimeField(
        verbose_name=_("orders synced until"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, editable=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_event_id", "external_date_id"],
                name="listing_unique_external",
            ),
        ]
        ordering = ["connection_id", "session_id", "pk"]
        verbose_name = _("listing")
        verbose_name_plural = _("listings")

    def __str__(self) -> str:
        date = f"/{self.external_date_id}" if self.external_date_id else ""
        return f"{self.external_event_id}{date} → {self.session_id}"

    def clean(self) -> None:
        if (
            self.connection_id
            and self.session_id
            and self.session.event.organiser_id != self.connection.organiser_id
        ):
            raise ValidationError(
                {"session": _("The session belongs to another organiser.")}
            )
        ids = self.external_ticket_ids
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValidationError(
                {"external_ticket_ids": _("Give a list of ticket ids, as strings.")}
            )


class ExternalOrder(models.Model):
    """An order placed on a platform for one listing, upserted by its platform id.

    `tickets` maps each platform ticket (attendee) id to what we last saw of it, so
    that incremental imports, which bring only the tickets that changed, merge.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", _("Cancelled or refunded")

    listing = models.ForeignKey(
        Listing,
        verbose_name=_("listing"),
        on_delete=models.CASCADE,
        related_name="orders",
    )
    external_id = models.CharField(verbose_name=_("external id"), max_length=100)
    status = models.CharField(
        verbose_name=_("status"), max_length=20, choices=Status.choices
    )
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"), default=0)
    buyer_name = models.CharField(
        verbose_name=_("buyer name"), max_length=200, blank=True
    )
    buyer_email = models.EmailField(verbose_name=_("buyer email"), blank=True)
    currency = models.CharField(verbose_name=_("currency"), max_length=3, blank=True)
    total_minor = models.BigIntegerField(
        verbose_name=_("total minor"), null=True, blank=True
    )
    placed_at = models.DateTimeField(verbose_name=_("placed at"), null=True, blank=True)
    tickets = models.JSONField(verbose_name=_("tickets"), default=dict)
    imported_at = models.DateTimeField(
        verbose_name=_("imported at"), default=timezone.now
    )
    updated_at = models.DateTimeField(
        verbose_name=_("updated at"), default=timezone.now
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["listing", "external_id"], name="external_order_unique"
            ),
        ]
        ordering = ["-placed_at", "-pk"]
        verbose_name = _("external order")
        verbose_name_plural = _("external orders")

    def __str__(self) -> str:
        return f"{self.external_id} ({self.quantity})"


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Manual (admin)")
        API = "api", _("Partner API")
        WEBHOOK = "webhook", _("Webhook")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Success")
        PARTIAL = "partial", _("Partial")
        FAILED = "failed", _("Failed")

    connection = models.ForeignKey(
        Connection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="runs",
    )
    platform = models.CharField(
        verbose_name=_("platform"), max_length=20, choices=Platform.choices
    )
    trigger = models.CharField(
        verbose_name=_("trigger"), max_length=20, choices=Trigger.choices
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=20,
        choices=Status.choices,
        default=Status.RUNNING,
    )
    started_at = models.DateTimeField(
        verbose_name=_("started at"), default=timezone.now
    )
    finished_at = models.DateTimeField(
        verbose_name=_("finished at"), null=True, blank=True
    )
    listings_synced = models.PositiveIntegerField(
        verbose_name=_("listings synced"), default=0
    )
    listings_cached = models.PositiveIntegerField(
        verbose_name=_("listings cached"), default=0
    )
    listings_failed = models.PositiveIntegerField(
        verbose_name=_("listings failed"), default=0
    )
    orders_imported = models.PositiveIntegerField(
        verbose_name=_("orders imported"), default=0
    )
    errors = models.JSONField(verbose_name=_("errors"), default=list, blank=True)
    duration_ms = models.PositiveIntegerField(
        verbose_name=_("duration ms"), null=True, blank=True
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["connection", "-started_at"])]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")

    def __str__(self) -> str:
        return f"{self.platform} {self.trigger} {self.started_at:%Y-%m-%d %H:%M}"


class PlatformWebhook(models.Model):
    """Every inbound platform webhook with a known token, stored before anything else
    is done with it; `processed_at` says it was handled. A rejected one is kept
    bounded: an excerpt of its body, its size and hash."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    connection = models.ForeignKey(
        Connection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="webhooks",
        null=True,
        blank=True,
    )
    platform = models.CharField(
        verbose_name=_("platform"), max_length=20, choices=Platform.choices
    )
    action = models.CharField(verbose_name=_("action"), max_length=100, blank=True)
    resource_url = models.URLField(
        verbose_name=_("resource url"), max_length=500, blank=True
    )
    raw_body = models.TextField(verbose_name=_("raw body"), blank=True)
    body_size = models.PositiveIntegerField(verbose_name=_("body size"), default=0)
    body_sha256 = models.CharField(
        verbose_name=_("body sha256"), max_length=64, blank=True
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=20,
        choices=Status.choices,
        default=Status.RECEIVED,
    )
    error = models.TextField(verbose_name=_("error"), blank=True)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        verbose_name=_("next attempt at"), null=True, blank=True
    )
    received_at = models.DateTimeField(
        verbose_name=_("received at"), default=timezone.now
    )
    processed_at = models.DateTimeField(
        verbose_name=_("processed at"), null=True, blank=True
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="failed"),
                name="platform_webhook_retry_due",
            ),
            # The sweep and the health check look for deliveries not handled yet.
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True, status="received"),
                name="platform_webhook_unprocessed",
            ),
        ]
        verbose_name = _("platform webhook")
        verbose_name_plural = _("platform webhooks")

    def __str__(self) -> str:
        return f"{self.platform} {self.action or '-'} {self.status}"


class OversoldAlert(models.Model):
    """External sales pushed a session past its capacity here. Nothing local is
    cancelled; the session stops selling and the organiser decides."""

    session = models.ForeignKey(
        Session,
        verbose_name=_("session"),
        on_delete=models.CASCADE,
        related_name="oversold_alerts",
    )
    capacity = models.PositiveIntegerField(verbose_name=_("capacity"))
    sold_here = models.PositiveIntegerField(verbose_name=_("sold here"))
    held_here = models.PositiveIntegerField(verbose_name=_("held here"))
    sold_external = models.PositiveIntegerField(verbose_name=_("sold external"))
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now
    )
    updated_at = models.DateTimeField(
        verbose_name=_("updated at"), default=timezone.now
    )
    resolved_at = models.DateTimeField(
        verbose_name=_("resolved at"), null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(resolved_at__isnull=True),
                name="oversold_alert_one_open_per_session",
            ),
        ]
        verbose_name = _("oversold alert")
        verbose_name_plural = _("oversold alerts")

    def __str__(self) -> str:
        return f"{self.session}: {self.oversold_by} over capacity"

    @property
    def oversold_by(self) -> int:
        return self.sold_here + self.held_here + self.sold_external - self.capacity
