from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    """One organiser-visible state change: who did what to which object, and when.

    `organiser_id` is a plain column rather than a foreign key because the core app sits
    below `events` and must not import it; tenancy filters use it all the same.
    """

    organiser_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("organiser id")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("system, api key name, task name..."),
        verbose_name=_("actor label"),
    )
    action = models.CharField(max_length=100, db_index=True, verbose_name=_("action"))
    content_type = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("content type"),
    )
    object_id = models.CharField(
        max_length=64, blank=True, db_index=True, verbose_name=_("object id")
    )
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
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
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        DEAD = "dead", _("dead")

    kind = models.CharField(max_length=100, verbose_name=_("kind"))
    key = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("coalescing key; empty: never coalesced"),
        verbose_name=_("key"),
    )
    payload = models.JSONField(default=dict, blank=True, verbose_name=_("payload"))
    organiser_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("organiser id")
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
        verbose_name=_("status"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    version = models.PositiveIntegerField(default=1, verbose_name=_("version"))
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    leased_until = models.DateTimeField(
        null=True, blank=True, verbose_name=_("leased until")
    )
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    done_at = models.DateTimeField(null=True, blank=True, verbose_name=_("done at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
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

    kind = models.CharField(max_length=40, choices=Kind.choices, verbose_name=_("kind"))
    organiser_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("organiser id")
    )
    subject = models.CharField(
        max_length=200,
        help_text=_("what it is about, e.g. session:12 (one open each)"),
        verbose_name=_("subject"),
    )
    message = models.TextField(verbose_name=_("message"))
    link = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("admin page of it"),
        verbose_name=_("link"),
    )
    count = models.PositiveIntegerField(default=1, verbose_name=_("count"))
    first_seen_at = models.DateTimeField(verbose_name=_("first seen at"))
    last_seen_at = models.DateTimeField(verbose_name=_("last seen at"))
    resolved_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("resolved at")
    )
    emailed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("emailed at")
    )
    emailed_count = models.PositiveIntegerField(
        default=0,
        help_text=_("`count` when the last email went out"),
        verbose_name=_("emailed count"),
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
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
