"""What we pushed to Stripe, per connected account, and the log of every push.

Mappings hold our object's id as a plain column, not a foreign key: a deleted event
or ticket type must still be found to archive its Product or Price at Stripe.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StripeLink(models.Model):
    """Ours ↔ Stripe's on one connected account, and what was last pushed."""

    organiser_id = models.BigIntegerField(db_index=True)
    account_id = models.CharField(max_length=64)
    # sha256 of the parameters last pushed (without `last_synced`): an unchanged
    # object is not sent again.
    state_hash = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    is_active = models.BooleanField()
    synced_at = models.DateTimeField()

    class Meta:
        abstract = True


class ProductLink(StripeLink):
    """An event's Product on one connected account."""

    event_id = models.BigIntegerField()
    product_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "account_id"], name="stripe_product_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} → {self.product_id} ({self.account_id})"


class PriceLink(StripeLink):
    """A ticket type's current Price on one connected account. A new amount or
    currency is a new Price (Stripe's are immutable); the old one is archived, and
    `superseded_price_id` holds it until that has been done."""

    ticket_type_id = models.BigIntegerField()
    event_id = models.BigIntegerField(db_index=True)
    price_id = models.CharField(max_length=255)
    product_id = models.CharField(max_length=255)
    unit_amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    superseded_price_id = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_type_id", "account_id"], name="stripe_price_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"ticket type {self.ticket_type_id} → {self.price_id}"


class CatalogSyncLog(models.Model):
    """One push (or skip) of one object to Stripe."""

    class Entity(models.TextChoices):
        EVENT = "event", _("Event")
        TICKET_TYPE = "ticket_type", _("Ticket type")

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        RECREATE = "recreate", _("Recreated (missing at Stripe)")
        REPRICE = "reprice", _("New price, old one archived")
        ARCHIVE = "archive", _("Archived")
        PUSH = "push", _("Push")

    class Status(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    organiser = models.ForeignKey(
        "events.Organiser",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # kept for the record when the organiser goes
    )
    entity = models.CharField(max_length=12, choices=Entity.choices)
    object_id = models.BigIntegerField()
    account_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    stripe_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["entity", "object_id"], name="stripe_log_entity"),
            models.Index(
                fields=["organiser", "status", "created_at"], name="stripe_log_health"
            ),
        ]
        verbose_name = _("Stripe catalogue sync")
        verbose_name_plural = _("Stripe catalogue syncs")

    def __str__(self) -> str:
        return f"{self.entity} {self.object_id} {self.action} {self.status}"
