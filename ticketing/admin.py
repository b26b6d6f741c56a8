import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import outbox
from .admin_scoping import OrganiserScopedAdmin
from .models import AuditEntry, OutboxMessage


class ReadOnlyMixin:
    """Rows written by the system: looked at, never edited, superusers included.
    First among the bases, so that it wins over the organiser roles."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyMixin, OrganiserScopedAdmin, admin.ModelAdmin):
    """The audit trail: read-only for everyone, superusers included."""

    organiser_path = "organiser_id"
    add_roles = change_roles = delete_roles = ()
    list_display = ("created_at", "action", "actor_label", "content_type", "object_id")
    list_filter = ("action", "content_type")
    list_select_related = ("content_type",)
    search_fields = ("action", "object_id", "actor_label")
    date_hierarchy = "created_at"
    fields = ("created_at", "organiser_id", "action", "actor_label", "content_type",
              "object_id", "pretty_data")
    readonly_fields = fields

    @admin.display(description=_("Data"))
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>",
                           json.dumps(obj.data, indent=2, ensure_ascii=False))


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMixin, OrganiserScopedAdmin, admin.ModelAdmin):
    """Pending, done and dead outbox rows: read-only, with a "retry now" action for
    dead ones (their last error says why they died)."""

    organiser_path = "organiser_id"
    add_roles = change_roles = delete_roles = ()
    list_display = ("id", "kind", "key", "status", "attempts", "next_attempt_at",
                    "short_error", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("kind", "key", "last_error")
    date_hierarchy = "created_at"
    fields = ("kind", "key", "status", "organiser_id", "attempts", "version",
              "next_attempt_at", "leased_until", "last_error", "pretty_payload",
              "created_at", "updated_at", "done_at")
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description=_("Last error"))
    def short_error(self, obj):
        error = obj.last_error
        return (error[:80] + "…") if len(error) > 80 else error

    @admin.display(description=_("Payload"))
    def pretty_payload(self, obj):
        return format_html("<pre>{}</pre>",
                           json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.action(description=_("Retry now (attempts start again)"),
                  permissions=["retry"])
    def retry_now(self, request, queryset):
        count = outbox.retry_now(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("%d rows are due now.") % count)

    def has_retry_permission(self, request):
        # Dead rows can be another organiser's, or need a fix first: operators only.
        return request.user.is_superuser
