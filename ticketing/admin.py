import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .admin_scoping import OrganiserScopedAdmin
from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
