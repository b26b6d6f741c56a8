"""Bookings in the back office, scoped to the user's organisers.

Bookings are made by the shop and the API through the selling services; here an
organiser reads and cancels them (`notifications/admin.py` adds the messages sent to
the buyer and "resend"). Nothing here edits seats directly.
"""

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from ticketing.admin_localtime import LocalTimeAdminMixin
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    STAFF,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
)
from ticketing.lib.money import money_display
from ticketing.models import AuditEntry

from . import services
from .exceptions import BookingError
from .models import Attendee, Booking, BookingLine


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
    # Cancelling and resending are staff work; nobody adds bookings by hand here.
    change_roles = (OWNER, MANAGER, STAFF)
    add_roles = ()
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
        "event",
        "session",
        "created_at",
    )
    list_select_related = ("event", "session__venue", "session__event")
    search_fields = ("reference", "buyer_email", "buyer_name", "attendees__name")
    date_hierarchy = "created_at"
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
