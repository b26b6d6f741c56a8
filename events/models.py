"""The catalogue: organisers, members, venues, events, sessions, ticket types."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ticketing.lib.money import Money


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not an IANA time zone such as Europe/Paris."),
            params={"value": value},
        )


def validate_currency(value: str) -> None:
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise ValidationError(_("Use a three-letter ISO 4217 code such as EUR."))


class Organiser(models.Model):
    class PriceMode(models.TextChoices):
        INCLUSIVE = "inclusive", _("Prices include tax")
        EXCLUSIVE = "exclusive", _("Tax is added to prices")

    name = models.CharField(max_length=200, verbose_name=_("name"))
    slug = models.SlugField(max_length=80, unique=True, verbose_name=_("slug"))
    country = models.CharField(
        max_length=2, help_text=_("ISO 3166 code, e.g. FR"), verbose_name=_("country")
    )
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text=_("Default currency of new events"),
        verbose_name=_("currency"),
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        verbose_name=_("timezone"),
    )
    reference_prefix = models.CharField(
        max_length=6,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-HJ-NP-Z2-9]{2,6}$",
                _("2 to 6 capital letters or digits 2-9, without O or I."),
            )
        ],
        help_text=_("Starts every booking reference, e.g. MC26 in MC26-7K3QXZ"),
        verbose_name=_("reference prefix"),
    )
    contact_email = models.EmailField(verbose_name=_("contact email"))
    hold_reminder_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_(
            "Remind buyers this many minutes before an unpaid hold expires (email, "
            "and SMS when they gave a phone). Empty: no reminder."
        ),
        verbose_name=_("hold reminder minutes"),
    )
    price_mode = models.CharField(
        max_length=10,
        choices=PriceMode.choices,
        default=PriceMode.INCLUSIVE,
        help_text=_(
            "Whether ticket prices include tax (the buyer pays the price) or tax is "
            "added on top of them"
        ),
        verbose_name=_("price mode"),
    )
    legal_name = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("On invoices (empty: the name)"),
        verbose_name=_("legal name"),
    )
    legal_address = models.TextField(
        blank=True, help_text=_("On invoices"), verbose_name=_("legal address")
    )
    tax_id = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("Tax or VAT number on invoices, e.g. ABN 51 824 753 556"),
        verbose_name=_("tax id"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("organiser")
        verbose_name_plural = _("organisers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def prices_include_tax(self) -> bool:
        return self.price_mode == self.PriceMode.INCLUSIVE

    @property
    def invoice_name(self) -> str:
        return self.legal_name or self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        """The clock of organiser-wide reports and lists."""
        return zoneinfo.ZoneInfo(self.timezone)


class TaxRate(models.Model):
    """A tax an organiser charges (GST 10 %, VAT 20 %, exempt), given to ticket types
    and copied onto booking and invoice lines when they are written."""

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="tax_rates",
        verbose_name=_("organiser"),
    )
    name = models.CharField(
        max_length=60, help_text=_("Shown to buyers, e.g. GST"), verbose_name=_("name")
    )
    percent = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        verbose_name=_("percent"),
    )
    is_exempt = models.BooleanField(
        default=False,
        help_text=_("Exempt from tax: no tax whatever the percent"),
        verbose_name=_("is exempt"),
    )
    account_code = models.CharField(
        max_length=40,
        blank=True,
        help_text=_(
            "The tax type in the accounting system, e.g. Xero's OUTPUT or EXEMPTOUTPUT"
        ),
        verbose_name=_("account code"),
    )

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "name"], name="tax_rate_unique_name"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100),
                name="tax_rate_percent_0_100",
            ),
        ]

    def __str__(self) -> str:
        if self.is_exempt:
            return f"{self.name} ({_('exempt')})"
        return f"{self.name} {self.percent.normalize():f} %"

    @property
    def effective_percent(self) -> Decimal:
        return Decimal(0) if self.is_exempt else self.percent


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        STAFF = "staff", _("Staff")
        VIEWER = "viewer", _("Viewer")

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("organiser"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(
        max_length=10, choices=Role.choices, default=Role.STAFF, verbose_name=_("role")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["organiser", "user"],
                name="membership_unique_user_per_organiser",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organiser} ({self.get_role_display()})"


class Venue(models.Model):
    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="venues",
        verbose_name=_("organiser"),
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    address = models.CharField(max_length=300, verbose_name=_("address"))
    city = models.CharField(max_length=100, verbose_name=_("city"))
    country = models.CharField(max_length=2, verbose_name=_("country"))
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], verbose_name=_("timezone")
    )

    class Meta:
        verbose_name = _("venue")
        verbose_name_plural = _("venues")
        ordering = ["city", "name"]

    def __str__(self) -> str:
        return f"{self.name}, {self.city}"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Event(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        CANCELLED = "cancelled", _("Cancelled")
        ARCHIVED = "archived", _("Archived")

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("organiser"),
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    slug = models.SlugField(max_length=120, unique=True, verbose_name=_("slug"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    image = models.ImageField(upload_to="events/", blank=True, verbose_name=_("image"))
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.DRAFT,
        db_index=True,
        verbose_name=_("status"),
    )
    currency = models.CharField(
        max_length=3, validators=[validate_currency], verbose_name=_("currency")
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("Local clock for deadlines and display"),
        verbose_name=_("timezone"),
    )
    sales_start_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("sales start at")
    )
    sales_end_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("sales end at")
    )
    max_tickets_per_order = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_(
            "At most this many tickets in one order, all ticket types together. One "
            "buyer or address may also hold no more than this, or a tenth of a "
            "session's seats if that is more, in one session at a time."
        ),
        verbose_name=_("max tickets per order"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sales_end_at__isnull=True)
                | Q(sales_start_at__isnull=True)
                | Q(sales_end_at__gt=models.F("sales_start_at")),
                name="event_sales_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if (
            self.sales_start_at
            and self.sales_end_at
            and self.sales_end_at <= self.sales_start_at
        ):
            raise ValidationError(
                {"sales_end_at": _("Sales must end after they start.")}
            )

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Session(models.Model):
    """One dated occurrence of an event.

    `sold_count` changes only under this row's lock (see bookings/locks.py), and so is
    `held_ceiling` lowered.
    """

    class SaleStatus(models.TextChoices):
        ON_SALE = "on_sale", _("On sale")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="sessions",
        verbose_name=_("event"),
    )
    venue = models.ForeignKey(
        Venue,
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name=_("venue"),
    )
    starts_at = models.DateTimeField(db_index=True, verbose_name=_("starts at"))
    ends_at = models.DateTimeField(verbose_name=_("ends at"))
    sales_close_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_(
            "Sales stop at this moment (empty: when the session starts). It stays "
            "listed until it ends."
        ),
        verbose_name=_("sales close at"),
    )
    capacity = models.PositiveIntegerField(verbose_name=_("capacity"))
    sale_status = models.CharField(
        max_length=10,
        choices=SaleStatus.choices,
        default=SaleStatus.ON_SALE,
        verbose_name=_("sale status"),
    )
    sold_count = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Seats sold on this site"),
        verbose_name=_("sold count"),
    )
    external_sold_count = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Seats sold on external platforms, from the last sync"),
        verbose_name=_("external sold count"),
    )
    external_synced_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("external synced at")
    )
    # Never below the seats that unexpired pending bookings hold: a database trigger
    # (bookings migration 0006) raises it with every hold, and a sale that counts the
    # holds exactly writes the count back under the session lock. A sale for which
    # capacity minus sold minus this still leaves room need not count the holds.
    held_ceiling = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("At least the seats held by unexpired pending bookings"),
        verbose_name=_("held ceiling"),
    )
    external_sync_failing = models.BooleanField(
        default=False,
        editable=False,
        help_text=_("The last sync of one of its platform listings failed"),
        verbose_name=_("external sync failing"),
    )

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="session_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1), name="session_capacity_positive"
            ),
            models.CheckConstraint(
                condition=Q(sales_close_at__isnull=True)
                | Q(sales_close_at__lte=models.F("ends_at")),
                name="session_sales_close_before_end",
            ),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at, self.tzinfo)
        return f"{self.event} · {self.venue.city} · {local:%Y-%m-%d %H:%M %Z}"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        """The session's local clock: its venue's zone (the event's without one)."""
        if self.venue_id and self.venue.timezone:
            return self.venue.tzinfo
        return self.event.tzinfo

    def clean(self) -> None:
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("A session must end after it starts.")
        if self.sales_close_at and self.ends_at and self.sales_close_at > self.ends_at:
            errors["sales_close_at"] = _("Sales must close before the session ends.")
        if self.capacity is not None and self.capacity < 1:
            errors["capacity"] = _("Capacity must be at least 1.")
        if (
            self.event_id
            and self.venue_id
            and self.venue.organiser_id != self.event.organiser_id
        ):
            errors["venue"] = _("The venue belongs to another organiser.")
        if errors:
            raise ValidationError(errors)

    @property
    def city(self) -> str:
        return self.venue.city

    @property
    def sales_close_effective_at(self):
        """When sales stop: `sales_close_at`, or the start when it is empty."""
        return self.sales_close_at or self.starts_at


class TicketType(models.Model):
    class Kind(models.TextChoices):
        REGULAR = "regular", _("Regular")
        EARLY_BIRD = "early_bird", _("Early bird")
        GROUP = "group", _("Group")

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="ticket_types",
        verbose_name=_("event"),
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    kind = models.CharField(
        max_length=12,
        choices=Kind.choices,
        default=Kind.REGULAR,
        verbose_name=_("kind"),
    )
    price_minor = models.BigIntegerField(
        validators=[MinValueValidator(0)],
        help_text=_(
            "Price in minor units (cents): what the buyer pays when the organiser's "
            "prices include tax, else the price before tax"
        ),
        verbose_name=_("price minor"),
    )
    tax_rate = models.ForeignKey(
        TaxRate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ticket_types",
        help_text=_("Empty: no tax line"),
        verbose_name=_("tax rate"),
    )
    early_bird_price_minor = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        verbose_name=_("early bird price minor"),
    )
    early_bird_deadline_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("early bird deadline at")
    )
    group_min_quantity = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(2)],
        verbose_name=_("group min quantity"),
    )
    group_discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        verbose_name=_("group discount percent"),
    )
    allocation = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("At most this many of this type per session (empty: no limit)"),
        verbose_name=_("allocation"),
    )
    min_per_order = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], verbose_name=_("min per order")
    )
    max_per_order = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1)], verbose_name=_("max per order")
    )
    sales_start_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("sales start at")
    )
    sales_end_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("sales end at")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        verbose_name = _("ticket type")
        verbose_name_plural = _("ticket types")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_minor__gte=0), name="ticket_type_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(early_bird_price_minor__isnull=True)
                | Q(early_bird_price_minor__gte=0),
                name="ticket_type_early_bird_price_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(group_discount_percent__isnull=True)
                | (
                    Q(group_discount_percent__gte=0)
                    & Q(group_discount_percent__lte=100)
                ),
                name="ticket_type_group_discount_0_100",
            ),
            models.CheckConstraint(
                condition=Q(group_min_quantity__isnull=True)
                | Q(group_min_quantity__gte=2),
                name="ticket_type_group_min_at_least_2",
            ),
            models.CheckConstraint(
                condition=Q(max_per_order__gte=models.F("min_per_order")),
                name="ticket_type_max_not_below_min",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.event})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        has_price = self.early_bird_price_minor is not None
        has_deadline = self.early_bird_deadline_at is not None
        if has_price != has_deadline:
            errors["early_bird_deadline_at"] = _(
                "An early-bird price needs a deadline, and a deadline needs a price."
            )
        if (
            has_price
            and self.price_minor is not None
            and self.early_bird_price_minor > self.price_minor
        ):
            errors["early_bird_price_minor"] = _(
                "The early-bird price cannot be above the regular price."
            )
        if has_deadline and self.event_id:
            first_session = self.event.sessions.order_by("starts_at").first()
            if first_session and self.early_bird_deadline_at >= first_session.starts_at:
                errors["early_bird_deadline_at"] = _(
                    "The early-bird deadline must be before the first session starts."
                )
        if (self.group_min_quantity is None) != (self.group_discount_percent is None):
            errors["group_discount_percent"] = _(
                "A group discount needs both a minimum quantity and a percentage."
            )
        if (
            self.min_per_order
            and self.max_per_order
            and self.max_per_order < self.min_per_order
        ):
            errors["max_per_order"] = _(
                "The maximum per order cannot be below the minimum."
            )
        if (
            self.sales_start_at
            and self.sales_end_at
            and self.sales_end_at <= self.sales_start_at
        ):
            errors["sales_end_at"] = _("Sales must end after they start.")
        if (
            self.tax_rate_id
            and self.event_id
            and self.tax_rate.organiser_id != self.event.organiser_id
        ):
            errors["tax_rate"] = _("The tax rate belongs to another organiser.")
        if errors:
            raise ValidationError(errors)

    @property
    def currency(self) -> str:
        return self.event.currency

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.event.currency)
