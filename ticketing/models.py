from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


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


class Alert(models.Model):
    """Something an organiser (or the site's admins) must hear about: an oversold
    session, a sync failing run after run, work whose retries ran out...

    One open alert per kind and subject: raising it again bumps `count` and
    `last_seen_at` instead of adding a row (`ticketing.alerts.alert_raise`).
    `organiser_id` is a plain column, as on AuditEntry (the core sits below events);
    None means the site as a whole (a stuck backlog), for site admins only.
    """

    class Kind(models.TextChoices):
        OVERSOLD = "oversold", "Session oversold"
        SYNC_FAILING = "sync_failing", "Platform sync failing"
        WEBHOOK_EXHAUSTED = "webhook_exhausted", "Webhook retries exhausted"
        DELIVERY_EXHAUSTED = "delivery_exhausted", "Delivery retries exhausted"
        REFUND_UNKNOWN = "refund_unknown", "Refund of unknown outcome"
        BACKLOG_STUCK = "backlog_stuck", "Stored work not moving"

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
