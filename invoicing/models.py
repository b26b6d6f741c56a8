"""Invoices, bills, deposit invoices and credit notes, their lines and the payments
received against them; the parties (performers, promoters, buyers, partners) they are
addressed to; and the sequence rows that number them.

Money is integer minor units in the invoice's currency. Tax rates live on `events`
(copied onto each line when it is written); the tax maths is `bookings.pricing`'s.
An issued document is never edited: it is paid, or credited by a credit note.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ticketing.lib.money import Money


class Party(models.Model):
    """Someone an organiser invoices or is billed by."""

    class Kind(models.TextChoices):
        PERFORMER = "performer", _("Performer")
        PROMOTER = "promoter", _("Promoter")
        VENUE = "venue", _("Venue")
        BUYER = "buyer", _("Buyer")
        PARTNER = "partner", _("Partner")

    organiser = models.ForeignKey(
        "events.Organiser",
        verbose_name=_("organiser"),
        on_delete=models.CASCADE,
        related_name="parties",
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(
        verbose_name=_("name"), max_length=200, help_text=_("Legal name on documents")
    )
    address = models.TextField(verbose_name=_("address"), blank=True)
    email = models.EmailField(verbose_name=_("email"), blank=True)
    tax_id = models.CharField(verbose_name=_("tax id"), max_length=40, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invoice_parties",
        help_text=_("Signs in to read, only, the documents addressed to this party"),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("party")
        verbose_name_plural = _("parties")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class InvoiceSequence(models.Model):
    """The next number of one series of one organiser; locked to take a number, so
    numbers are gapless and never repeat (services/numbering.py)."""

    organiser = models.ForeignKey(
        "events.Organiser",
        verbose_name=_("organiser"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    series = models.CharField(verbose_name=_("series"), max_length=10)
    next_number = models.PositiveIntegerField(verbose_name=_("next number"), default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "series"], name="invoice_sequence_unique"
            ),
        ]
        verbose_name = _("invoice sequence")
        verbose_name_plural = _("invoice sequences")

    def __str__(self) -> str:
        return f"{self.series} → {self.next_number}"


class InvoiceQuerySet(models.QuerySet):
    def overdue(self, today: dt.date | None = None):
        return self.filter(
            status__in=Invoice.OPEN_STATUSES,
            due_on__lt=today or timezone.localdate(),
        ).exclude(type=Invoice.Type.CREDIT_NOTE)


class Invoice(models.Model):
    class Type(models.TextChoices):
        SALES = "sales", _("Sales invoice")
        BILL = "bill", _("Bill (payable)")
        DEPOSIT = "deposit", _("Deposit invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ISSUED = "issued", _("Issued")
        PARTLY_PAID = "partly_paid", _("Partly paid")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")

    class TaxTreatment(models.TextChoices):
        INCLUSIVE = "inclusive", _("Amounts include tax")
        EXCLUSIVE = "exclusive", _("Tax added to amounts")
        NO_TAX = "no_tax", _("No tax")

    OPEN_STATUSES = (Status.ISSUED, Status.PARTLY_PAID)
    # The series each type is numbered in unless told otherwise.
    DEFAULT_SERIES = {
        Type.SALES: "INV",
        Type.DEPOSIT: "INV",
        Type.BILL: "BILL",
        Type.CREDIT_NOTE: "CN",
    }

    organiser = models.ForeignKey(
        "events.Organiser",
        verbose_name=_("organiser"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    type = models.CharField(verbose_name=_("type"), max_length=12, choices=Type.choices)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.DRAFT,
        db_index=True,
    )
    series = models.CharField(verbose_name=_("series"), max_length=10)
    number = models.PositiveIntegerField(
        verbose_name=_("number"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Given when issued"),
    )
    party = models.ForeignKey(
        Party,
        verbose_name=_("party"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    booking = models.ForeignKey(
        "bookings.Booking",
        verbose_name=_("booking"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    # The recipient as it was when the document was written (the party may change).
    recipient_name = models.CharField(verbose_name=_("recipient name"), max_length=200)
    recipient_address = models.TextField(
        verbose_name=_("recipient address"), blank=True
    )
    recipient_email = models.EmailField(verbose_name=_("recipient email"), blank=True)
    recipient_tax_id = models.CharField(
        verbose_name=_("recipient tax id"), max_length=40, blank=True
    )
    language = models.CharField(verbose_name=_("language"), max_length=10, default="en")
    issued_on = models.DateField(verbose_name=_("issued on"), null=True, blank=True)
    due_on = models.DateField(verbose_name=_("due on"), null=True, blank=True)
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    tax_treatment = models.CharField(
        verbose_name=_("tax treatment"),
        max_length=10,
        choices=TaxTreatment.choices,
        default=TaxTreatment.INCLUSIVE,
    )
    subtotal_minor = models.BigIntegerField(
        verbose_name=_("subtotal minor"), default=0, help_text=_("Before tax")
    )
    tax_minor = models.BigIntegerField(verbose_name=_("tax minor"), default=0)
    total_minor = models.BigIntegerField(
        verbose_name=_("total minor"), default=0, help_text=_("Tax included")
    )
    deposits_deducted_minor = models.BigIntegerField(
        verbose_name=_("deposits deducted minor"),
        default=0,
        help_text=_(
            "Deposits paid before this balance invoice, deducted by its negative "
            "lines (the total is net of them)"
        ),
    )
    credited_minor = models.BigIntegerField(
        verbose_name=_("credited minor"), default=0, editable=False
    )
    paid_minor = models.BigIntegerField(
        verbose_name=_("paid minor"), default=0, editable=False
    )
    # Deposit terms: a deposit invoice for this much is asked before the balance.
    deposit_percent = models.DecimalField(
        verbose_name=_("deposit percent"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
    )
    deposit_minor = models.BigIntegerField(
        verbose_name=_("deposit minor"), null=True, blank=True
    )
    deposit_due_on = models.DateField(
        verbose_name=_("deposit due on"), null=True, blank=True
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text=_("A deposit's invoice, or the invoice a credit note credits"),
    )
    notes = models.TextField(verbose_name=_("notes"), blank=True)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    reminded_at = models.DateTimeField(
        verbose_name=_("reminded at"), null=True, blank=True
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "series", "number"],
                name="invoice_number_unique_per_series",
            ),
            models.CheckConstraint(
                condition=Q(
                    total_minor=models.F("subtotal_minor") + models.F("tax_minor")
                )
                & Q(total_minor__gte=0)
                & Q(paid_minor__gte=0)
                & Q(credited_minor__gte=0)
                & Q(deposits_deducted_minor__gte=0),
                name="invoice_totals_consistent",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "void"]) | Q(number__isnull=False),
                name="invoice_issued_has_number",
            ),
            # One sales invoice per booking: the signal may come twice.
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(type="sales") & ~Q(status="void"),
                name="invoice_one_sales_per_booking",
            ),
        ]
        indexes = [models.Index(fields=["organiser", "status", "due_on"])]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.display_number or f"{self.get_type_display()} ({_('draft')})"

    @property
    def display_number(self) -> str:
        return "" if self.number is None else f"{self.series}-{self.number:06d}"

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    @property
    def amount_due_minor(self) -> int:
        """What is still to be paid (0 for a credit note, a draft or a void)."""
        if self.status not in self.OPEN_STATUSES:
            return 0
        # Deposits are deducted by negative lines, so the total is net of them.
        return max(0, self.total_minor - self.credited_minor - self.paid_minor)

    @property
    def is_overdue(self) -> bool:
        return (
            self.type != self.Type.CREDIT_NOTE
            and self.status in self.OPEN_STATUSES
            and self.due_on is not None
            and self.due_on < timezone.localdate()
        )


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        on_delete=models.CASCADE,
        related_name="lines",
    )
    description = models.CharField(verbose_name=_("description"), max_length=300)
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"), default=1)
    unit_price_minor = models.BigIntegerField(
        verbose_name=_("unit price minor"),
        help_text=_("As the invoice's tax treatment says: with or without tax"),
    )
    tax_rate = models.ForeignKey(
        "events.TaxRate",
        verbose_name=_("tax rate"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tax_name = models.CharField(verbose_name=_("tax name"), max_length=60, blank=True)
    tax_percent = models.DecimalField(
        verbose_name=_("tax percent"),
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
    )
    tax_code = models.CharField(
        verbose_name=_("tax code"),
        max_length=40,
        blank=True,
        help_text=_("Accounting tax type, e.g. OUTPUT"),
    )
    account_code = models.CharField(
        verbose_name=_("account code"),
        max_length=40,
        blank=True,
        help_text=_("Ledger account, e.g. Xero's 200"),
    )
    net_minor = models.BigIntegerField(verbose_name=_("net minor"), default=0)
    tax_minor = models.BigIntegerField(verbose_name=_("tax minor"), default=0)
    total_minor = models.BigIntegerField(verbose_name=_("total minor"), default=0)
    position = models.PositiveSmallIntegerField(verbose_name=_("position"), default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_minor=models.F("net_minor") + models.F("tax_minor")),
                name="invoice_line_totals_consistent",
            ),
        ]
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")

    def __str__(self) -> str:
        return self.description


class InvoicePayment(models.Model):
    """Money received against an invoice (or paid out against a credit note)."""

    class Method(models.TextChoices):
        CARD = "card", _("Card (online)")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        CASH = "cash", _("Cash")
        OTHER = "other", _("Other")

    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    received_on = models.DateField(verbose_name=_("received on"))
    method = models.CharField(
        verbose_name=_("method"), max_length=15, choices=Method.choices
    )
    reference = models.CharField(
        verbose_name=_("reference"), max_length=200, blank=True
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

    class Meta:
        ordering = ["received_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="invoice_payment_positive"
            ),
        ]
        verbose_name = _("invoice payment")
        verbose_name_plural = _("invoice payments")

    def __str__(self) -> str:
        return f"{Money(self.amount_minor, self.currency)} on {self.received_on}"
