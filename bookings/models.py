"""Bookings (holds and sales), their lines and attendees."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Event, Organiser, Session, TicketType
from ticketing.lib.money import Money


class BookingQuerySet(models.QuerySet):
    def holding(self, now=None):
        """Pending bookings whose hold has not expired: the seats they keep."""
        return self.filter(
            status=Booking.Status.PENDING, expires_at__gt=now or timezone.now()
        )

    def stale(self, now=None):
        return self.filter(
            status=Booking.Status.PENDING, expires_at__lte=now or timezone.now()
        )


class DiscountCode(models.Model):
    """A code a buyer types to lower the price (a voucher, a promo code).

    It reaches its organiser's events, or only some events, sessions or ticket
    types (empty lists mean no limit there). A percentage comes off each eligible
    line; a fixed amount comes off each eligible ticket, never below zero. Uses are
    the bookings that hold or bought seats with it, counted under the code's row
    lock by the sale (`bookings.discounts`): a cancelled or expired booking gives
    its use back.
    """

    class Kind(models.TextChoices):
        PERCENT = "percent", _("Percentage off")
        FIXED = "fixed", _("Fixed amount off each ticket")

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="discount_codes",
        verbose_name=_("organiser"),
    )
    code = models.CharField(
        max_length=40,
        help_text=_("What buyers type; letters and digits, not case-sensitive"),
        verbose_name=_("code"),
    )
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        default=Kind.PERCENT,
        verbose_name=_("kind"),
    )
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
        verbose_name=_("percent"),
    )
    amount_minor = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Off each ticket, in minor units (cents) of `currency`"),
        verbose_name=_("amount minor"),
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=_("For a fixed amount: events in other currencies refuse the code"),
        verbose_name=_("currency"),
    )
    events = models.ManyToManyField(
        Event, blank=True, related_name="+", verbose_name=_("events")
    )
    sessions = models.ManyToManyField(
        Session, blank=True, related_name="+", verbose_name=_("sessions")
    )
    ticket_types = models.ManyToManyField(
        TicketType, blank=True, related_name="+", verbose_name=_("ticket types")
    )
    max_uses = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Bookings in all (empty: no limit)"),
        verbose_name=_("max uses"),
    )
    max_uses_per_email = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Bookings per buyer email (empty: no limit)"),
        verbose_name=_("max uses per email"),
    )
    min_quantity = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Tickets the order must have for the code to apply"),
        verbose_name=_("min quantity"),
    )
    valid_from = models.DateTimeField(
        null=True, blank=True, verbose_name=_("valid from")
    )
    valid_until = models.DateTimeField(
        null=True, blank=True, verbose_name=_("valid until")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("discount code")
        verbose_name_plural = _("discount codes")
        constraints = [
            models.UniqueConstraint(
                "organiser", Upper("code"), name="discount_code_unique_per_organiser"
            ),
            models.CheckConstraint(
                condition=(Q(kind="percent") & Q(percent__isnull=False))
                | (Q(kind="fixed") & Q(amount_minor__isnull=False) & ~Q(currency="")),
                name="discount_code_value_for_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        self.code = self.code.strip().upper()
        self.currency = self.currency.strip().upper()
        errors = {}
        if self.kind == self.Kind.PERCENT and self.percent is None:
            errors["percent"] = _("Give the percentage.")
        if self.kind == self.Kind.FIXED:
            if self.amount_minor is None:
                errors["amount_minor"] = _("Give the amount.")
            if not self.currency:
                errors["currency"] = _("Give the amount's currency.")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end must come after the start.")
        if errors:
            raise ValidationError(errors)


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending payment")
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")
        REFUNDED = "refunded", _("Refunded")

    class Channel(models.TextChoices):
        WEB = "web", _("Web shop")
        API = "api", _("Partner API")
        ADMIN = "admin", _("Back office")

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("organiser"),
    )
    event = models.ForeignKey(
        Event,
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("event"),
    )
    session = models.ForeignKey(
        Session,
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("session"),
    )
    reference = models.CharField(
        max_length=20, unique=True, verbose_name=_("reference")
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
        verbose_name=_("status"),
    )
    channel = models.CharField(
        max_length=10,
        choices=Channel.choices,
        default=Channel.WEB,
        verbose_name=_("channel"),
    )
    quantity = models.PositiveIntegerField(
        help_text=_("Seats this booking takes: the sum of its lines"),
        verbose_name=_("quantity"),
    )
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    subtotal_minor = models.BigIntegerField(verbose_name=_("subtotal minor"))
    discount_minor = models.BigIntegerField(default=0, verbose_name=_("discount minor"))
    total_minor = models.BigIntegerField(
        help_text=_("What the buyer pays, tax included"), verbose_name=_("total minor")
    )
    # Tax of the lines, summed; with tax-exclusive prices it is added to subtotal -
    # discount to make the total (bookings.pricing).
    tax_minor = models.BigIntegerField(
        default=0, db_default=0, verbose_name=_("tax minor")
    )
    prices_include_tax = models.BooleanField(
        default=True, db_default=True, verbose_name=_("prices include tax")
    )
    buyer_name = models.CharField(max_length=200, verbose_name=_("buyer name"))
    buyer_email = models.EmailField(db_index=True, verbose_name=_("buyer email"))
    buyer_phone = models.CharField(
        max_length=32, blank=True, verbose_name=_("buyer phone")
    )
    language = models.CharField(
        max_length=10,
        default="en",
        help_text=_("The buyer's language, for messages"),
        verbose_name=_("language"),
    )
    # Asked for at checkout: an invoice to a company (invoicing issues it).
    invoice_requested = models.BooleanField(
        default=False, db_default=False, verbose_name=_("invoice requested")
    )
    billing_name = models.CharField(
        max_length=200,
        blank=True,
        default="",
        db_default="",
        verbose_name=_("billing name"),
    )
    billing_address = models.TextField(
        blank=True, default="", db_default="", verbose_name=_("billing address")
    )
    billing_tax_id = models.CharField(
        max_length=40,
        blank=True,
        default="",
        db_default="",
        verbose_name=_("billing tax id"),
    )
    idempotency_key = models.CharField(
        max_length=200, null=True, blank=True, verbose_name=_("idempotency key")
    )
    client_key = models.CharField(
        max_length=32,
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Keyed hash of the address a web checkout came from (never the address "
            "itself), to limit the seats one address holds"
        ),
        verbose_name=_("client key"),
    )
    needs_attention = models.BooleanField(
        default=False,
        help_text=_("Flagged for the organiser, see the audit trail"),
        verbose_name=_("needs attention"),
    )
    is_complimentary = models.BooleanField(
        default=False,
        help_text=_("Given free by the organiser (a comp): no revenue, seats taken"),
        verbose_name=_("is complimentary"),
    )
    discount_code = models.ForeignKey(
        DiscountCode,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("discount code"),
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("expires at")
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    confirmed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("confirmed at")
    )
    cancelled_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("cancelled at")
    )
    refunded_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("refunded at")
    )

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "idempotency_key"],
                name="booking_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="booking_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(total_minor__gte=0)
                & Q(discount_minor__gte=0)
                & Q(tax_minor__gte=0)
                & (
                    Q(
                        prices_include_tax=True,
                        total_minor=models.F("subtotal_minor")
                        - models.F("discount_minor"),
                    )
                    | Q(
                        prices_include_tax=False,
                        total_minor=models.F("subtotal_minor")
                        - models.F("discount_minor")
                        + models.F("tax_minor"),
                    )
                ),
                name="booking_totals_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(expires_at__isnull=False),
                name="booking_pending_has_expiry",
            ),
        ]
        indexes = [
            # Held seats: SUM(quantity) of a session's unexpired pending bookings.
            # Seats held in a session are summed under its lock on every sale:
            # with `quantity` in the index the sum reads no table rows once they
            # are all-visible.
            models.Index(
                fields=["session", "expires_at"],
                include=["quantity"],
                condition=Q(status="pending"),
                name="booking_held_by_session",
            ),
            # The checkout's limit of unpaid holds per buyer email (case-insensitive).
            models.Index(
                Upper("buyer_email"),
                "expires_at",
                condition=Q(status="pending"),
                name="booking_pending_by_email",
            ),
            # The back office's list of an organiser's bookings, newest first: without
            # it PostgreSQL walks every organiser's bookings by date (issue 24).
            models.Index(
                fields=["organiser", "-created_at", "-id"],
                name="booking_by_organiser_newest",
            ),
            # The dashboard's "needs attention" list: a handful among all bookings.
            models.Index(
                fields=["organiser", "-created_at"],
                condition=Q(needs_attention=True),
                name="booking_needs_attention",
            ),
            # The back office's search ("contains", any case) by reference, buyer
            # email or name: trigram indexes answer a LIKE '%…%' without reading
            # every booking.
            GinIndex(
                OpClass(Upper("reference"), name="gin_trgm_ops"),
                name="booking_reference_trgm",
            ),
            GinIndex(
                OpClass(Upper("buyer_email"), name="gin_trgm_ops"),
                name="booking_buyer_email_trgm",
            ),
            GinIndex(
                OpClass(Upper("buyer_name"), name="gin_trgm_ops"),
                name="booking_buyer_name_trgm",
            ),
            # Seats one client address holds (bookings.services.hold_limits).
            models.Index(
                fields=["client_key", "expires_at"],
                condition=Q(status="pending") & Q(client_key__isnull=False),
                name="booking_pending_by_client",
            ),
            # Bulk expiry scans pending bookings by expiry time.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="pending"),
                name="booking_pending_by_expiry",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    @property
    def net_minor(self) -> int:
        return self.total_minor - self.tax_minor

    @property
    def taxes(self) -> list:
        """Tax per rate of the lines (`bookings.pricing.TaxSummary`), for display."""
        from .pricing import tax_summaries

        return tax_summaries(self.lines.all())

    @property
    def is_holding(self) -> bool:
        return (
            self.status == self.Status.PENDING
            and self.expires_at is not None
            and self.expires_at > timezone.now()
        )


class BookingLine(models.Model):
    booking = models.ForeignKey(
        Booking,
        on_delete=models.CASCADE,
        related_name="lines",
        verbose_name=_("booking"),
    )
    ticket_type = models.ForeignKey(
        TicketType,
        on_delete=models.PROTECT,
        related_name="booking_lines",
        verbose_name=_("ticket type"),
    )
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"))
    unit_price_minor = models.BigIntegerField(verbose_name=_("unit price minor"))
    subtotal_minor = models.BigIntegerField(verbose_name=_("subtotal minor"))
    discount_minor = models.BigIntegerField(default=0, verbose_name=_("discount minor"))
    total_minor = models.BigIntegerField(
        help_text=_("What the buyer pays for the line, tax included"),
        verbose_name=_("total minor"),
    )
    price_rule = models.CharField(max_length=12, verbose_name=_("price rule"))
    # The tax as priced, copied so that later edits to the rate change nothing sold.
    tax_minor = models.BigIntegerField(
        default=0, db_default=0, verbose_name=_("tax minor")
    )
    tax_rate = models.ForeignKey(
        "events.TaxRate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("tax rate"),
    )
    tax_name = models.CharField(
        max_length=60, blank=True, default="", db_default="", verbose_name=_("tax name")
    )
    tax_percent = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        verbose_name=_("tax percent"),
    )
    tax_code = models.CharField(
        max_length=40, blank=True, default="", db_default="", verbose_name=_("tax code")
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("booking line")
        verbose_name_plural = _("booking lines")
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "ticket_type"],
                name="booking_line_unique_ticket_type",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="booking_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.ticket_type.name}"

    @property
    def net_minor(self) -> int:
        return self.total_minor - self.tax_minor


class Attendee(models.Model):
    booking = models.ForeignKey(
        Booking,
        on_delete=models.CASCADE,
        related_name="attendees",
        verbose_name=_("booking"),
    )
    line = models.ForeignKey(
        BookingLine,
        on_delete=models.CASCADE,
        related_name="attendees",
        verbose_name=_("line"),
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("attendee")
        verbose_name_plural = _("attendees")
        indexes = [
            # The bookings search by attendee name (BookingAdmin.get_search_results).
            GinIndex(
                OpClass(Upper("name"), name="gin_trgm_ops"),
                name="attendee_name_trgm",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    """One admission, one per attendee of a confirmed booking. The QR code carries the
    secret (256 bits); the short code is for people to read and type."""

    class Status(models.TextChoices):
        VALID = "valid", _("Valid")
        USED = "used", _("Used")
        VOID = "void", _("Void")

    booking = models.ForeignKey(
        Booking,
        on_delete=models.CASCADE,
        related_name="tickets",
        verbose_name=_("booking"),
    )
    attendee = models.OneToOneField(
        Attendee,
        on_delete=models.CASCADE,
        related_name="ticket",
        verbose_name=_("attendee"),
    )
    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("organiser"),
    )
    session = models.ForeignKey(
        Session,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("session"),
    )
    ticket_type = models.ForeignKey(
        TicketType,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("ticket type"),
    )
    code = models.CharField(max_length=12, unique=True, verbose_name=_("code"))
    secret = models.CharField(max_length=64, unique=True, verbose_name=_("secret"))
    status = models.CharField(
        max_length=5,
        choices=Status.choices,
        default=Status.VALID,
        verbose_name=_("status"),
    )
    checked_in_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("checked in at")
    )
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("checked in by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")

    def __str__(self) -> str:
        return self.code
