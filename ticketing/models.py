from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    """One organiser-visible state change: who did what to which object, and when.

    `organiser_id` is a plain column rather than a foreign key because the core app sits
    below `events` and must not import it; tenancy filters use it all the same.
    """

    organiser_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=100, blank=True, help_text="system, api key name, task name..."
    )
    action = models.CharField(max_length=100, db_index=True)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL
    )
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_id} at {self.created_at:%Y-%m-%d %H:%M}"


class OutboxMessage(models.Model):
    """Work that must happen because a transaction committed: one row, written in
    that transaction by `ticketing.outbox.enqueue`, handled by the handler its kind
    registered (see `ticketing/outbox.py`).

    `key` coalesces: among pending rows of a kind it is unique, so N changes to one
    object before the push leave one row (`version` counts them, so a change that
    lands while the row is being handled makes it due again instead of being lost).
    `leased_until` is set while a dispatcher handles the row; a dispatcher that died
    frees it when the lease runs out. A row out of attempts is DEAD and stays, with
    its last error, for a person to look at (and retry from the admin).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "done"
        DEAD = "dead", "dead"

    kind = models.CharField(max_length=100)
    key = models.CharField(
        max_length=200, blank=True, help_text="coalescing key; empty: never coalesced"
    )
    payload = models.JSONField(default=dict, blank=True)
    organiser_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=models.Q(status="pending") & ~models.Q(key=""),
                name="outbox_one_pending_per_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="outbox_pending_due",
            ),
            models.Index(fields=["status", "kind"], name="outbox_status_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key or self.pk} ({self.status})"


class Alert(models.Model):
    """Something an organiser (or the site's admins) must hear about: an oversold
    session, a sync failing run after run, work whose retries ran out...

    One open alert per kind and subject: raising it again bumps `count` and
    `last_seen_at` instead of adding a row (`ticketing.alerts.alert_raise`).
    `organiser_id` is a plain column, as on AuditEntry (the core sits below events);
    None means the site as a whole (a stuck backlog), for site admins only.
    """

    class Kind(models.TextChoices):
        OVERSOLD = "oversold", _("Session oversold")
        SYNC_FAILING = "sync_failing", _("Platform sync failing")
        WEBHOOK_EXHAUSTED = "webhook_exhausted", _("Webhook retries exhausted")
        DELIVERY_EXHAUSTED = "delivery_exhausted", _("Delivery retries exhausted")
        REFUND_UNKNOWN = "refund_unknown", _("Refund of unknown outcome")
        BACKLOG_STUCK = "backlog_stuck", _("Stored work not moving")
        STRIPE_CATALOG_FAILING = (
            "stripe_catalog_failing",
            _("Stripe catalogue push failing"),
        )
        XERO_PUSH_FAILED = "xero.push_failed", _("Xero refused a document")
        XERO_CONNECTION_BROKEN = "xero.connection_broken", _("Xero connection broken")

    kind = models.CharField(max_length=40, choices=Kind.choices)
    organiser_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    subject = models.CharField(
        max_length=200, help_text="what it is about, e.g. session:12 (one open each)"
    )
    message = models.TextField()
    link = models.CharField(max_length=500, blank=True, help_text="admin page of it")
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    emailed_count = models.PositiveIntegerField(
        default=0, help_text="`count` when the last email went out"
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open_per_kind_and_subject",
            ),
        ]
        indexes = [models.Index(fields=["resolved_at", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
