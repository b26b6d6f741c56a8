"""What we pushed to Stripe, per connected account, and the log of every push.

Mappings hold our object's id as a plain column, not a foreign key: a deleted event
or ticket type must still be found to archive its Product or Price at Stripe.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StripeLink(models.Model):
    """Ours ↔ Stripe's on one connected account, and what was last pushed."""

    organiser_id = models.BigIntegerField(db_index=True, verbose_name=_("organiser id"))
    account_id = models.CharField(max_length=64, verbose_name=_("account id"))
    # sha256 of the parameters last pushed (without `last_synced`): an unchanged
    # object is not sent again.
    state_hash = models.CharField(max_length=64, verbose_name=_("state hash"))
    state = models.JSONField(default=dict, verbose_name=_("state"))
    is_active = models.BooleanField(verbose_name=_("is active"))
    synced_at = models.DateTimeField(verbose_name=_("synced at"))

    class Meta:
        abstract = True


class ProductLink(StripeLink):
    """An event's Product on one connected account."""

    event_id = models.BigIntegerField(verbose_name=_("event id"))
    product_id = models.CharField(max_length=255, verbose_name=_("product id"))

    class Meta:
        verbose_name = _("product link")
        verbose_name_plural = _("product links")
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

    ticket_type_id = models.BigIntegerField(verbose_name=_("ticket type id"))
    event_id = models.BigIntegerField(db_index=True, verbose_name=_("event id"))
    price_id = models.CharField(max_length=255, verbose_name=_("price id"))
    product_id = models.CharField(max_length=255, verbose_name=_("product id"))
    unit_amount = models.BigIntegerField(verbose_name=_("unit amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    superseded_price_id = models.CharField(
        max_length=255, blank=True, verbose_name=_("superseded price id")
    )

    class Meta:
        verbose_name = _("price link")
        verbose_name_plural = _("price links")
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
        verbose_name=_("organiser"),
    )
    entity = models.CharField(
        max_length=12, choices=Entity.choices, verbose_name=_("entity")
    )
    object_id = models.BigIntegerField(verbose_name=_("object id"))
    account_id = models.CharField(
        max_length=64, blank=True, verbose_name=_("account id")
    )
    action = models.CharField(
        max_length=10, choices=Action.choices, verbose_name=_("action")
    )
    stripe_id = models.CharField(
        max_length=255, blank=True, verbose_name=_("stripe id")
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, verbose_name=_("status")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )

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
