"""Payments, their attempts and refunds, provider accounts and webhook deliveries."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking
from events.models import Organiser
from ticketing.lib import crypto
from ticketing.lib.money import Money


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PAYSTACK = "paystack", "Paystack"
    OFFLINE = "offline", _("Bank transfer / pay later")


class ProviderAccount(models.Model):
    """A provider an organiser offers, with its keys. Secrets are encrypted at rest and
    never shown back; without an account the project-wide keys from settings apply."""

    organiser = models.ForeignKey(
        Organiser,
        verbose_name=_("organiser"),
        on_delete=models.CASCADE,
        related_name="payment_accounts",
    )
    provider = models.CharField(
        verbose_name=_("provider"), max_length=20, choices=Provider.choices
    )
    is_enabled = models.BooleanField(verbose_name=_("is enabled"), default=True)
    public_key = models.CharField(
        verbose_name=_("public key"),
        max_length=200,
        blank=True,
        help_text=_("Publishable key, shown to buyers"),
    )
    secret_key_encrypted = models.TextField(
        verbose_name=_("secret key encrypted"), blank=True, editable=False
    )
    webhook_secret_encrypted = models.TextField(
        verbose_name=_("webhook secret encrypted"), blank=True, editable=False
    )
    # Offline (bank transfer) only: what the buyer is told, and how long seats wait.
    bank_name = models.CharField(_("bank name"), max_length=100, blank=True)
    account_holder = models.CharField(_("account holder"), max_length=100, blank=True)
    account_number = models.CharField(
        _("IBAN / account number"), max_length=50, blank=True
    )
    bank_code = models.CharField(_("BIC / sort code"), max_length=30, blank=True)
    instructions = models.TextField(
        _("payment instructions"),
        blank=True,
        help_text=_("Shown to the buyer with the bank details, or instead of them"),
    )
    payment_days = models.PositiveSmallIntegerField(
        _("days to pay"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("Seats of a booking paid by transfer stay held this many days"),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("provider account")
        verbose_name_plural = _("provider accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "provider"],
                name="provider_account_unique_per_organiser",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.organiser}"

    @property
    def secret_key(self) -> str:
        return crypto.decrypt(self.secret_key_encrypted)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        self.secret_key_encrypted = crypto.encrypt(value)

    @property
    def webhook_secret(self) -> str:
        return crypto.decrypt(self.webhook_secret_encrypted)

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = crypto.encrypt(value)


class Payment(models.Model):
    """One payment attempt of a booking with one provider."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        MISMATCH = "mismatch", _("Amount mismatch")

    booking = models.ForeignKey(
        Booking,
        verbose_name=_("booking"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    organiser = models.ForeignKey(
        Organiser,
        verbose_name=_("organiser"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    provider = models.CharField(
        verbose_name=_("provider"), max_length=20, choices=Provider.choices
    )
    provider_reference = models.CharField(
        verbose_name=_("provider reference"), max_length=200
    )
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
    )
    refunded_minor = models.BigIntegerField(verbose_name=_("refunded minor"), default=0)
    # Stripe Connect: the organiser's account the money goes to (a destination charge
    # on the platform's account) and the platform's fee kept from it. Empty and 0 for
    # a payment to the organiser's own keys or the project's.
    destination_account = models.CharField(
        verbose_name=_("destination account"), max_length=64, blank=True
    )
    application_fee_minor = models.BigIntegerField(
        verbose_name=_("application fee minor"), default=0
    )
    client_secret = models.CharField(
        verbose_name=_("client secret"), max_length=300, blank=True
    )
    redirect_url = models.URLField(
        verbose_name=_("redirect url"), max_length=500, blank=True
    )
    raw_state = models.JSONField(verbose_name=_("raw state"), default=dict, blank=True)
    # Why the provider refused it (Stripe's decline code, Paystack's gateway
    # response), shown to the buyer in plain words by `payments.failures`.
    failure_code = models.CharField(
        verbose_name=_("failure code"), max_length=100, blank=True
    )
    failure_message = models.CharField(
        verbose_name=_("failure message"), max_length=300, blank=True
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    succeeded_at = models.DateTimeField(
        verbose_name=_("succeeded at"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                name="payment_unique_provider_reference",
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0)
                & Q(refunded_minor__lte=models.F("amount_minor")),
                name="payment_refunded_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(application_fee_minor__gte=0)
                & Q(application_fee_minor__lte=models.F("amount_minor")),
                name="payment_application_fee_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_reference}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def refundable_minor(self) -> int:
        if self.status != self.Status.SUCCEEDED:
            return 0
        return self.amount_minor - self.refunded_minor


class PaymentEvent(models.Model):
    """History of a payment: every start, reuse, verification, webhook and refund."""

    payment = models.ForeignKey(
        Payment,
        verbose_name=_("payment"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    action = models.CharField(verbose_name=_("action"), max_length=40)
    status = models.CharField(verbose_name=_("status"), max_length=20, blank=True)
    amount_minor = models.BigIntegerField(
        verbose_name=_("amount minor"), null=True, blank=True
    )
    data = models.JSONField(verbose_name=_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment event")
        verbose_name_plural = _("payment events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.status}"


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    payment = models.ForeignKey(
        Payment,
        verbose_name=_("payment"),
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    organiser = models.ForeignKey(
        Organiser,
        verbose_name=_("organiser"),
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    reason = models.CharField(verbose_name=_("reason"), max_length=300, blank=True)
    provider_refund_id = models.CharField(
        verbose_name=_("provider refund id"), max_length=200, blank=True
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
    )
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    # Connect (destination charge): what the refund asks of Stripe, decided when the
    # refund is asked for and kept, so that asking again sends the same request.
    reverses_transfer = models.BooleanField(
        verbose_name=_("reverses transfer"), default=False
    )
    refunds_application_fee = models.BooleanField(
        verbose_name=_("refunds application fee"), default=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="refund_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["payment", "provider_refund_id"],
                condition=~Q(provider_refund_id=""),
                name="refund_unique_provider_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} of payment {self.payment_id}"


class WebhookDelivery(models.Model):
    """Every verified delivery is stored before anything else happens, once (its
    provider event id is unique), and processed from this row; `processed_at` says it
    was handled. A rejected one is kept bounded: an excerpt, its size and hash.

    `next_attempt_at` is when a failed row is due again, or the lease of a row being
    processed (a worker lost mid-way frees it)."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed, will retry")
        REJECTED = "rejected", _("Rejected: bad signature")

    provider = models.CharField(
        verbose_name=_("provider"), max_length=20, choices=Provider.choices
    )
    event_id = models.CharField(verbose_name=_("event id"), max_length=200)
    event_type = models.CharField(
        verbose_name=_("event type"), max_length=100, blank=True
    )
    organiser = models.ForeignKey(
        Organiser,
        verbose_name=_("organiser"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    raw_body = models.TextField(
        verbose_name=_("raw body"),
        help_text=_("The whole body, or only its start for a rejected delivery"),
    )
    body_size = models.PositiveIntegerField(
        verbose_name=_("body size"), default=0, help_text=_("Bytes received")
    )
    body_sha256 = models.CharField(
        verbose_name=_("body sha256"), max_length=64, blank=True
    )
    headers = models.JSONField(verbose_name=_("headers"), default=dict, blank=True)
    event = models.JSONField(
        verbose_name=_("event"),
        default=dict,
        blank=True,
        help_text=_("The verified event, provider-neutral; processing reads this"),
    )
    signature_valid = models.BooleanField(verbose_name=_("signature valid"))
    status = models.CharField(
        verbose_name=_("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.RECEIVED,
    )
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(
        verbose_name=_("next attempt at"), null=True, blank=True
    )
    received_at = models.DateTimeField(verbose_name=_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(
        verbose_name=_("processed at"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("webhook delivery")
        ordering = ["-received_at"]
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=Q(signature_valid=True),
                name="webhook_unique_verified_event",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # The sweep and the health check look for verified rows not handled yet.
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True, signature_valid=True),
                name="webhook_unprocessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


class ConnectedAccount(models.Model):
    """An organiser's Stripe Connect account. Once Stripe lets it take charges, the
    organiser's card payments are destination charges on the platform's account: the
    money goes to this account, less the platform's fee. The state fields are Stripe's,
    as last read (on return from onboarding and on every `account.updated`)."""

    organiser = models.OneToOneField(
        Organiser,
        verbose_name=_("organiser"),
        on_delete=models.CASCADE,
        related_name="connected_account",
    )
    account_id = models.CharField(
        _("Stripe account"),
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^acct_[A-Za-z0-9]+$", _("An acct_… id."))],
    )
    charges_enabled = models.BooleanField(
        verbose_name=_("charges enabled"), default=False
    )
    payouts_enabled = models.BooleanField(
        verbose_name=_("payouts enabled"), default=False
    )
    details_submitted = models.BooleanField(
        verbose_name=_("details submitted"), default=False
    )
    requirements_due = models.JSONField(
        verbose_name=_("requirements due"),
        default=list,
        blank=True,
        help_text=_("What Stripe still needs (currently or past due)"),
    )
    disabled_reason = models.CharField(
        verbose_name=_("disabled reason"), max_length=100, blank=True
    )
    is_merchant_of_record = models.BooleanField(
        _("organiser is merchant of record"),
        default=False,
        help_text=_(
            "Charges are made on behalf of the organiser's account (its name on the "
            "buyer's statement, its country's rules)."
        ),
    )
    fee_percent = models.DecimalField(
        _("platform fee (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Empty: the platform's default (PLATFORM_FEE_PERCENT)."),
    )
    fee_fixed_minor = models.BigIntegerField(
        _("platform fee per ticket (minor units)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_(
            "In minor units of the event's currency. Empty: the platform's default "
            "(PLATFORM_FEE_FIXED_MINOR)."
        ),
    )
    refunds_application_fee = models.BooleanField(
        _("refunds return the platform fee"),
        default=True,
        help_text=_(
            "A refund also gives back the platform's fee, in proportion; otherwise "
            "the organiser's account bears it."
        ),
    )
    state_checked_at = models.DateTimeField(
        verbose_name=_("state checked at"), null=True, blank=True
    )
    last_account_updated_at = models.DateTimeField(
        verbose_name=_("last account updated at"),
        null=True,
        blank=True,
        help_text=_("When the last account.updated was sent"),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("connected account")
        verbose_name_plural = _("connected accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(fee_percent__isnull=True)
                | Q(fee_percent__gte=0, fee_percent__lte=100),
                name="connected_account_fee_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(fee_fixed_minor__isnull=True) | Q(fee_fixed_minor__gte=0),
                name="connected_account_fee_fixed_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} · {self.organiser}"
