"""An organiser's Xero organisation, how our codes map onto its codes, and what was
pushed to it or pulled from it.

Tokens are stored encrypted (`ticketing.lib.crypto`, the key payments uses). Every
row reaches its organiser through `connection__organiser` or `organiser`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ticketing.lib import crypto


class XeroConnection(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("Not connected")
        CHOOSING = "choosing", _("Choose an organisation")
        ACTIVE = "active", _("Connected")
        BROKEN = "broken", _("Reconnect needed")
        DISCONNECTED = "disconnected", _("Disconnected")

    organiser = models.OneToOneField(
        "events.Organiser",
        on_delete=models.CASCADE,
        related_name="xero_connection",
        verbose_name=_("organiser"),
    )
    status = models.CharField(
        max_length=12,
        choices=Status.choices,
        default=Status.NEW,
        verbose_name=_("status"),
    )
    tenant_id = models.CharField(
        max_length=64, blank=True, db_index=True, verbose_name=_("tenant id")
    )
    tenant_name = models.CharField(
        max_length=200, blank=True, verbose_name=_("tenant name")
    )
    # The organisations the user granted at the last consent, to choose one from.
    tenants_offered = models.JSONField(
        default=list, blank=True, editable=False, verbose_name=_("tenants offered")
    )
    access_token_encrypted = models.TextField(
        blank=True, editable=False, verbose_name=_("access token encrypted")
    )
    refresh_token_encrypted = models.TextField(
        blank=True, editable=False, verbose_name=_("refresh token encrypted")
    )
    access_expires_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("access expires at")
    )
    # The consent in progress: `state` ties the callback to it, the PKCE verifier
    # proves to the token endpoint that we asked for the code.
    oauth_state = models.CharField(
        max_length=64, blank=True, editable=False, verbose_name=_("oauth state")
    )
    code_verifier_encrypted = models.TextField(
        blank=True, editable=False, verbose_name=_("code verifier encrypted")
    )
    # The tenant's tax types and accounts, read at connect (choices of the mapping).
    tax_types = models.JSONField(
        default=list, blank=True, editable=False, verbose_name=_("tax types")
    )
    accounts = models.JSONField(
        default=list, blank=True, editable=False, verbose_name=_("accounts")
    )
    sales_account_code = models.CharField(
        max_length=10,
        blank=True,
        help_text=_("Revenue account of sales lines, e.g. 200"),
        verbose_name=_("sales account code"),
    )
    bills_account_code = models.CharField(
        max_length=10,
        blank=True,
        help_text=_("Expense account of bill lines, e.g. 310"),
        verbose_name=_("bills account code"),
    )
    payment_account_code = models.CharField(
        max_length=10,
        blank=True,
        help_text=_("Bank account payments are recorded in, e.g. 090"),
        verbose_name=_("payment account code"),
    )
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    # Xero's X-DayLimit-Remaining on the last answer (shown in the health panel).
    day_calls_left = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("day calls left")
    )
    connected_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("connected at")
    )
    last_push_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last push at")
    )
    last_reconciled_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last reconciled at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("Xero connection")
        verbose_name_plural = _("Xero connections")

    def __str__(self) -> str:
        return f"Xero: {self.tenant_name or self.get_status_display()}"

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)

    @property
    def code_verifier(self) -> str:
        return crypto.decrypt(self.code_verifier_encrypted)

    def set_tokens(self, *, access: str, refresh: str, expires_at) -> None:
        self.access_token_encrypted = crypto.encrypt(access)
        self.refresh_token_encrypted = crypto.encrypt(refresh)
        self.access_expires_at = expires_at

    def set_code_verifier(self, verifier: str) -> None:
        self.code_verifier_encrypted = crypto.encrypt(verifier)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class XeroTaxMapping(models.Model):
    """Our tax rate → the tenant's TaxType."""

    connection = models.ForeignKey(
        XeroConnection,
        on_delete=models.CASCADE,
        related_name="tax_mappings",
        verbose_name=_("connection"),
    )
    tax_rate = models.ForeignKey(
        "events.TaxRate",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("tax rate"),
    )
    tax_type = models.CharField(max_length=40, verbose_name=_("tax type"))

    class Meta:
        verbose_name = _("xero tax mapping")
        verbose_name_plural = _("xero tax mappings")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "tax_rate"], name="xero_tax_mapping_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tax_rate} → {self.tax_type}"


class XeroContact(models.Model):
    """A Xero contact we created or found, by our ContactNumber (a party or a buyer's
    email)."""

    connection = models.ForeignKey(
        XeroConnection,
        on_delete=models.CASCADE,
        related_name="contacts",
        verbose_name=_("connection"),
    )
    contact_number = models.CharField(max_length=50, verbose_name=_("contact number"))
    contact_id = models.CharField(max_length=64, verbose_name=_("contact id"))
    name = models.CharField(max_length=255, verbose_name=_("name"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("xero contact")
        verbose_name_plural = _("xero contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "contact_number"], name="xero_contact_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class XeroDocument(models.Model):
    """Where one of our invoices stands in Xero (shown on the invoice in admin)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be pushed")
        PUSHED = "pushed", _("In Xero")
        FAILED = "failed", _("Refused by Xero")
        SKIPPED = "skipped", _("Not pushed")

    invoice = models.OneToOneField(
        "invoicing.Invoice",
        on_delete=models.CASCADE,
        related_name="xero",
        verbose_name=_("invoice"),
    )
    connection = models.ForeignKey(
        XeroConnection,
        on_delete=models.CASCADE,
        related_name="documents",
        verbose_name=_("connection"),
    )
    state = models.CharField(
        max_length=10,
        choices=State.choices,
        default=State.PENDING,
        verbose_name=_("state"),
    )
    xero_id = models.CharField(
        max_length=64, blank=True, db_index=True, verbose_name=_("xero id")
    )
    xero_type = models.CharField(max_length=12, blank=True, verbose_name=_("xero type"))
    xero_status = models.CharField(
        max_length=12, blank=True, verbose_name=_("xero status")
    )
    allocated_minor = models.BigIntegerField(
        default=0,
        help_text=_("Of a credit note: allocated to its invoice in Xero"),
        verbose_name=_("allocated minor"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    pushed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("pushed at"))
    remote_updated_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("remote updated at")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("xero document")
        verbose_name_plural = _("xero documents")
        indexes = [models.Index(fields=["connection", "state", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.invoice} in Xero: {self.get_state_display()}"


class XeroPayment(models.Model):
    """A payment known on both sides: pushed from ours, or pulled from Xero's (then
    `payment` is the InvoicePayment it recorded here). Unique per Xero PaymentID, so
    a payment seen twice (webhook and reconcile) is recorded once."""

    class Direction(models.TextChoices):
        PUSHED = "pushed", _("Sent to Xero")
        PULLED = "pulled", _("Recorded in Xero")

    connection = models.ForeignKey(
        XeroConnection,
        on_delete=models.CASCADE,
        related_name="payments",
        verbose_name=_("connection"),
    )
    payment = models.OneToOneField(
        "invoicing.InvoicePayment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="xero",
        verbose_name=_("payment"),
    )
    xero_payment_id = models.CharField(max_length=64, verbose_name=_("xero payment id"))
    direction = models.CharField(
        max_length=6, choices=Direction.choices, verbose_name=_("direction")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("xero payment")
        verbose_name_plural = _("xero payments")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "xero_payment_id"],
                name="xero_payment_unique",
            )
        ]

    def __str__(self) -> str:
        return self.xero_payment_id


class XeroWebhookEvent(models.Model):
    """One event of a verified delivery, stored before it is processed."""

    tenant_id = models.CharField(max_length=64, verbose_name=_("tenant id"))
    category = models.CharField(max_length=20, verbose_name=_("category"))
    event_type = models.CharField(max_length=20, verbose_name=_("event type"))
    resource_id = models.CharField(max_length=64, verbose_name=_("resource id"))
    event_at = models.CharField(max_length=40, verbose_name=_("event at"))
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    processed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("processed at")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("xero webhook event")
        verbose_name_plural = _("xero webhook events")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "resource_id", "event_type", "event_at"],
                name="xero_webhook_event_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(processed_at__isnull=True),
                name="xero_webhook_unprocessed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.event_type} {self.resource_id}"
