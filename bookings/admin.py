"""Bookings in the back office, scoped to the user's organisers.

Bookings are made by the shop and the API through the selling services; here an
organiser reads and cancels them (`notifications/admin.py` adds the messages sent to
the buyer and "resend"). Nothing here edits seats directly.
"""

import datetime as dt

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from ticketing.admin_localtime import LocalTimeAdminMixin
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    STAFF,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    scope_queryset,
)
from ticketing.lib.money import money_display
from ticketing.models import AuditEntry

from . import services
from .exceptions import BookingError
from .models import Attendee, Booking, BookingLine, DiscountCode


class SessionListFilter(admin.RelatedFieldListFilter):
    """The sessions of the event chosen in the event filter; with none chosen, the
    user's sessions from a month ago on, soonest first, at most `RECENT_LIMIT`.

    An organiser with a long run has hundreds of dates: listing them all (as
    Django's filter does, or only those with bookings, by a DISTINCT over every
    booking) made the changelist slow and the sidebar unreadable. A session's name
    needs its event and venue, read in the same query.
    """

    RECENT_LIMIT = 60
    RECENT_DAYS = 30

    def field_choices(self, field, request, model_admin):
        sessions = field.related_model._default_manager.select_related(
            "event", "venue"
        ).order_by("starts_at", "pk")
        sessions = scope_queryset(sessions, request, path="event__organiser")
        event_id = request.GET.get("event__id__exact", "")
        if event_id.isdigit():
            chosen = sessions.filter(event_id=int(event_id))
        else:
            since = timezone.now() - dt.timedelta(days=self.RECENT_DAYS)
            chosen = sessions.filter(starts_at__gte=since)[: self.RECENT_LIMIT]
        choices = [(session.pk, str(session)) for session in chosen]
        selected = self.lookup_val[0] if self.lookup_val else ""
        if selected.isdigit() and int(selected) not in {pk for pk, _ in choices}:
            choices += [
                (session.pk, str(session))
                for session in sessions.filter(pk=int(selected))
            ]
        return choices


class _ReadOnlyInline(OrganiserScopedInline, admin.TabularInline):
    organiser_path = "booking__organiser"
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BookingLineInline(_ReadOnlyInline):
    model = BookingLine
    fields = readonly_fields = (
        "ticket_type",
        "quantity",
        "unit_price",
        "discount",
        "total",
        "price_rule",
    )

    @admin.display(description=_("Unit price"))
    def unit_price(self, line):
        return money_display(line.unit_price_minor, line.booking.currency)

    @admin.display(description=_("Discount"))
    def discount(self, line):
        return money_display(line.discount_minor, line.booking.currency)

    @admin.display(description=_("Total"))
    def total(self, line):
        return money_display(line.total_minor, line.booking.currency)


class AttendeeInline(_ReadOnlyInline):
    model = Attendee
    fields = readonly_fields = ("name", "email", "line")




@admin.register(Booking)
class BookingAdmin(LocalTimeAdminMixin, OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    # Cancelling, resending and adding bookings by hand (paid offline) are staff
    # work; comps need an owner or manager (admin_manual.COMP_ROLES).
    change_roles = (OWNER, MANAGER, STAFF)
    add_roles = (OWNER, MANAGER, STAFF)
    delete_roles = ()
    list_display = (
        "reference",
        "event",
        "session",
        "status",
        "quantity",
        "total_display",
        "buyer_name",
        "buyer_email",
        "created_at",
        "needs_attention",
    )
    list_filter = (
        "status",
        "needs_attention",
        "channel",
        "is_complimentary",
        "event",
        ("session", SessionListFilter),
        "created_at",
    )
    list_select_related = ("event", "session__venue", "session__event")
    # 50 rows: rendering 100 rows of 12 columns alone took ~80 ms of CPU.
    list_per_page = 50
    search_fields = ("reference", "buyer_email", "buyer_name", "attendees__name")
    # No date_hierarchy: its list of months is a DISTINCT over every booking (94 ms
    # at 100,000); the "created at" filter gives today, 7 days, this month, year.
    # One count per page, not two (the second counts every booking again).
    show_full_result_count = False
    # Higher apps add theirs (notifications: the messages sent and "resend").
    inlines = (BookingLineInline, AttendeeInline)
    actions = ("cancel_bookings",)
    fields = (
        "reference",
        "organiser",
        "event",
        "session",
        "status",
        "channel",
        "is_complimentary",
        "discount_code",
        "buyer_name",
        "buyer_email",
        "buyer_phone",
        "quantity",
        "subtotal",
        "discount",
        "total",
        "expires_at",
        "created_at",
        "confirmed_at",
        "cancelled_at",
        "refunded_at",
        "needs_attention",
        "audit_trail",
    )
    readonly_fields = tuple(f for f in fields if f != "needs_attention")

    def get_search_results(self, request, queryset, search_term):
        """The words as one phrase, in the booking's fields or an attendee's name.

        One set of ids, the union of the booking matches and the attendee matches:
        each side is answered by its trigram indexes (bookings migration 0015).
        Written as "these fields OR an attendee", PostgreSQL read every booking of
        the organiser (200 ms at 100,000); Django's join plus DISTINCT was worse."""
        term = search_term.strip()
        if not term:
            return queryset, False
        bookings = Booking.objects.filter(
            Q(reference__icontains=term)
            | Q(buyer_email__icontains=term)
            | Q(buyer_name__icontains=term)
        ).values("pk")
        attendees = Attendee.objects.filter(name__icontains=term).values("booking_id")
        return queryset.filter(pk__in=bookings.union(attendees)), False

    def add_view(self, request, form_url="", extra_context=None):
        from .admin_manual import manual_booking_view

        return manual_booking_view(self, request)

    @admin.display(description=_("Total"), ordering="total_minor")
    def total_display(self, booking):
        return money_display(booking.total_minor, booking.currency)

    @admin.display(description=_("Subtotal"))
    def subtotal(self, booking):
        return money_display(booking.subtotal_minor, booking.currency)

    @admin.display(description=_("Discount"))
    def discount(self, booking):
        return money_display(booking.discount_minor, booking.currency)

    @admin.display(description=_("Total"))
    def total(self, booking):
        return money_display(booking.total_minor, booking.currency)

    def admin_zone(self, request, booking):
        """A booking's times read on its session's clock, like its tickets."""
        return booking.session.tzinfo

    @admin.display(description=_("Audit trail"))
    def audit_trail(self, booking):
        entries = AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Booking),
            object_id=str(booking.pk),
        ).order_by("created_at", "id")
        return (
            format_html_join(
                "\n",
                "<div>{} · {} · {}</div>",
                (
                    (
                        date_filter(entry.created_at, "Y-m-d H:i:s"),
                        entry.action,
                        entry.actor_label,
                    )
                    for entry in entries
                ),
            )
            or "—"
        )

    @admin.action(description=_("Cancel selected bookings (seats return)"))
    def cancel_bookings(self, request, queryset):
        done = 0
        for booking in queryset:
            self.check_organiser(request, booking, self.change_roles)
            try:
                services.booking_cancel(
                    booking_id=booking.pk,
                    actor=request.user,
                    reason="cancelled in the back office",
                )
                done += 1
            except BookingError as error:
                self.message_user(
                    request,
                    f"{booking.reference}: {error.message}",
                    level=messages.ERROR,
                )
        if done:
            self.message_user(request, _("%(n)d booking(s) cancelled.") % {"n": done})


@admin.register(DiscountCode)
class DiscountCodeAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    change_roles = add_roles = (OWNER, MANAGER)
    delete_roles = (OWNER, MANAGER)
    list_display = (
        "code",
        "kind",
        "value_display",
        "uses_display",
        "max_uses",
        "valid_from",
        "valid_until",
        "is_active",
    )
    list_filter = ("is_active", "kind")
    search_fields = ("code",)
    filter_horizontal = ("events", "sessions", "ticket_types")
    fields = (
        "organiser",
        "code",
        "kind",
        "percent",
        "amount_minor",
        "currency",
        "events",
        "sessions",
        "ticket_types",
        "min_quantity",
        "max_uses",
        "max_uses_per_email",
        "valid_from",
        "valid_until",
        "is_active",
    )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Each choice's label reads its event (and a session's venue): one query.
        related = {"sessions": ("event", "venue"), "ticket_types": ("event",)}
        if db_field.name in related:
            kwargs["queryset"] = db_field.related_model._default_manager.select_related(
                *related[db_field.name]
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request):
        now = timezone.now()
        return (
            super()
            .get_queryset(request)
            .annotate(
                uses=Count(
                    "bookings",
                    filter=Q(bookings__status=Booking.Status.CONFIRMED)
                    | Q(
                        bookings__status=Booking.Status.PENDING,
                        bookings__expires_at__gt=now,
                    ),
                )
            )
        )

    @admin.display(description=_("Value"))
    def value_display(self, code):
        if code.kind == DiscountCode.Kind.PERCENT:
            return f"{code.percent.normalize():f} %"
        return money_display(code.amount_minor, code.currency)

    @admin.display(description=_("Uses"), ordering="uses")
    def uses_display(self, code):
        return code.uses
