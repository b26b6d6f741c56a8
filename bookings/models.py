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
        Organiser, on_delete=models.CASCADE, related_name="discount_codes"
    )
    code = models.CharField(
        max_length=40,
        help_text=_("What buyers type; letters and digits, not case-sensitive"),
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
    )
    amount_minor = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Off each ticket, in minor units (cents) of `currency`"),
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=_("For a fixed amount: events in other currencies refuse the code"),
    )
    events = models.ManyToManyField(Event, blank=True, related_name="+")
    sessions = models.ManyToManyField(Session, blank=True, related_name="+")
    ticket_types = models.ManyToManyField(TicketType, blank=True, related_name="+")
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Bookings in all (empty: no limit)")
    )
    max_uses_per_email = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Bookings per buyer email (empty: no limit)")
    )
    min_quantity = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Tickets the order must have for the code to apply"),
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                "organiser", Upper("code"), name="discount_code_unique_per_organiser"
            ),
            models.CheckConstraint(
                condition=(Q(kind="percent") & Q(percent__isnull=False))
                | (
                    Q(kind="fixed")
                    & Q(amount_minor__isnull=False)
                    & ~Q(currency="")
                ),
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
        Organiser, on_delete=models.PROTECT, related_name="bookings"
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="bookings")
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="bookings"
    )
    reference = models.CharField(max_length=20, unique=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.WEB
    )
    quantity = models.PositiveIntegerField(
        help_text=_("Seats this booking takes: the sum of its lines")
    )
    currency = models.CharField(max_length=3)
    subtotal_minor = models.BigIntegerField()
    discount_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(
        help_text=_("What the buyer pays, tax included")
    )
    # Tax of the lines, summed; with tax-exclusive prices it is added to subtotal -
    # discount to make the total (bookings.pricing).
    tax_minor = models.BigIntegerField(default=0, db_default=0)
    prices_include_tax = models.BooleanField(default=True, db_default=True)
    buyer_name = models.CharField(max_length=200)
    buyer_email = models.EmailField(db_index=True)
    buyer_phone = models.CharField(max_length=32, blank=True)
    language = models.CharField(
        max_length=10, default="en", help_text=_("The buyer's language, for messages")
    )
    # Asked for at checkout: an invoice to a company (invoicing issues it).
    invoice_requested = models.BooleanField(default=False, db_default=False)
    billing_name = models.CharField(
        max_length=200, blank=True, default="", db_default=""
    )
    billing_address = models.TextField(blank=True, default="", db_default="")
    billing_tax_id = models.CharField(
        max_length=40, blank=True, default="", db_default=""
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    client_key = models.CharField(
        max_length=32,
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Keyed hash of the address a web checkout came from (never the address "
            "itself), to limit the seats one address holds"
        ),
    )
    needs_attention = models.BooleanField(
        default=False, help_text=_("Flagged for the organiser, see the audit trail")
    )
    is_complimentary = models.BooleanField(
        default=False,
        help_text=_("Given free by the organiser (a comp): no revenue, seats taken"),
    )
    discount_code = models.ForeignKey(
        DiscountCode,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bookings",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
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
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="lines")
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, related_name="booking_lines"
    )
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.BigIntegerField()
    subtotal_minor = models.BigIntegerField()
    discount_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(
        help_text=_("What the buyer pays for the line, tax included")
    )
    price_rule = models.CharField(max_length=12)
    # The tax as priced, copied so that later edits to the rate change nothing sold.
    tax_minor = models.BigIntegerField(default=0, db_default=0)
    tax_rate = models.ForeignKey(
        "events.TaxRate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tax_name = models.CharField(max_length=60, blank=True, default="", db_default="")
    tax_percent = models.DecimalField(
        max_digits=6, decimal_places=3, null=True, blank=True
    )
    tax_code = models.CharField(max_length=40, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
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
        Booking, on_delete=models.CASCADE, related_name="attendees"
    )
    line = models.ForeignKey(
        BookingLine, on_delete=models.CASCADE, related_name="attendees"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["id"]
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
        Booking, on_delete=models.CASCADE, related_name="tickets"
    )
    attendee = models.OneToOneField(
        Attendee, on_delete=models.CASCADE, related_name="ticket"
    )
    organiser = models.ForeignKey(
        Organiser, on_delete=models.PROTECT, related_name="tickets"
    )
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="tickets"
    )
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, related_name="tickets"
    )
    code = models.CharField(max_length=12, unique=True)
    secret = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=5, choices=Status.choices, default=Status.VALID
    )
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.code
