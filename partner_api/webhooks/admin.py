"""Partner webhooks in the back office (imported at the end of bookings/admin.py).

Owners and managers register endpoints, rotate their secrets (the new secret is shown
once, in a message; the page shows it masked) and replay deliveries. Deliveries are
read-only: attempts, response codes and errors come from the sender.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ticketing.admin_scoping import MANAGER, OWNER, OrganiserScopedAdmin

from . import services
from .models import EVENT_CHOICES, PartnerWebhook, PartnerWebhookDelivery

WEBHOOK_ROLES = (OWNER, MANAGER)


class PartnerWebhookForm(forms.ModelForm):
    url = forms.URLField(label=_("Endpoint URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        label=_("Events"),
    )

    class Meta:
        model = PartnerWebhook
        fields = ("organiser", "url", "events", "is_active")


@admin.register(PartnerWebhook)
class PartnerWebhookAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    view_roles = add_roles = change_roles = delete_roles = WEBHOOK_ROLES
    form = PartnerWebhookForm
    list_display = ("url", "organiser", "events_display", "is_active", "created_at")
    list_filter = ("is_active",)
    readonly_fields = ("secret_display", "created_at")
    actions = ("rotate_secrets",)

    @admin.display(description=_("Events"))
    def events_display(self, webhook):
        return ", ".join(webhook.events)

    @admin.display(description=_("Signing secret"))
    def secret_display(self, webhook):
        return webhook.secret_masked if webhook.pk else "—"

    def save_model(self, request, obj, form, change):
        adding = obj.pk is None
        super().save_model(request, obj, form, change)
        if adding:
            self._show_secret(request, obj, obj.secret)

    @admin.action(description=_("Rotate the signing secret"), permissions=["change"])
    def rotate_secrets(self, request, queryset):
        for webhook in queryset:
            self.check_organiser(request, webhook, self.change_roles)
            self._show_secret(request, webhook, services.webhook_secret_rotate(webhook))

    def _show_secret(self, request, webhook, secret):
        self.message_user(
            request,
            _("Signing secret of %(url)s (shown once, copy it now): %(secret)s")
            % {"url": webhook.url, "secret": secret},
            messages.WARNING,
        )


@admin.register(PartnerWebhookDelivery)
class PartnerWebhookDeliveryAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "webhook__organiser"
    view_roles = change_roles = WEBHOOK_ROLES
    add_roles = ()
    delete_roles = ()
    list_display = (
        "created_at",
        "event",
        "webhook",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("status", "event")
    list_select_related = ("webhook",)
    fields = readonly_fields = (
        "webhook",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "payload_display",
        "attempt_log_display",
    )
    actions = ("replay",)

    @admin.display(description=_("Payload"))
    def payload_display(self, delivery):
        return format_html("<pre>{}</pre>", json.dumps(delivery.payload, indent=2))

    @admin.display(description=_("Attempts log"))
    def attempt_log_display(self, delivery):
        return format_html("<pre>{}</pre>", json.dumps(delivery.attempt_log, indent=2))

    @admin.action(description=_("Replay (send again)"), permissions=["change"])
    def replay(self, request, queryset):
        for delivery in queryset:
            self.check_organiser(request, delivery, self.change_roles)
        count = services.deliveries_replay([delivery.pk for delivery in queryset])
        self.message_user(
            request,
            _("%(count)d deliveries queued again.") % {"count": count},
            messages.SUCCESS,
        )
