"""The messages sent to a buyer, on the booking's admin page, and "resend".

The booking admin belongs to `bookings`, which knows nothing of notifications; this
module adds an inline and an action to it (imported by the admin's autodiscovery).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from bookings.admin import BookingAdmin, _ReadOnlyInline
from bookings.exceptions import BookingError

from .models import Notification
from .services.queueing import notification_resend


class NotificationInline(_ReadOnlyInline):
    model = Notification
    fields = readonly_fields = (
        "created_at",
        "channel",
        "template",
        "recipient",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    )
    ordering = ("-created_at", "-id")


@admin.action(description=_("Resend the confirmation and tickets (email and SMS)"))
def resend_notifications(modeladmin, request, queryset):
    done = 0
    for booking in queryset:
        modeladmin.check_organiser(request, booking, modeladmin.change_roles)
        try:
            notification_resend(booking_id=booking.pk, actor=request.user)
            done += 1
        except BookingError as error:
            modeladmin.message_user(
                request,
                f"{booking.reference}: {error.message}",
                level=messages.ERROR,
            )
    if done:
        modeladmin.message_user(
            request, _("%(n)d confirmation(s) queued.") % {"n": done}
        )


BookingAdmin.inlines = (*BookingAdmin.inlines, NotificationInline)
BookingAdmin.actions = (*BookingAdmin.actions, resend_notifications)
