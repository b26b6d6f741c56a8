import json

from django.contrib import admin
from django.db.models import F
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .admin_scoping import OrganiserScopedAdmin
from .models import Alert, AuditEntry


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


@admin.register(Alert)
class AlertAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    """What organisers must hear about; open ones first. Site-wide alerts (no
    organiser) are for superusers only. Staff resolve an alert by hand once dealt
    with; a check raises it again if it is not."""

    organiser_path = "organiser_id"
    add_roles = delete_roles = ()
    list_display = (
        "last_seen_at",
        "kind",
        "subject",
        "count",
        "is_open",
        "admin_link",
    )
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("subject", "message")
    date_hierarchy = "last_seen_at"
    fields = (
        "kind",
        "organiser_id",
        "subject",
        "message",
        "admin_link",
        "count",
        "first_seen_at",
        "last_seen_at",
        "emailed_at",
        "resolved_at",
    )
    readonly_fields = tuple(name for name in fields if name != "resolved_at")
    actions = ("resolve",)

    def get_queryset(self, request):
        # Open alerts first, then the most recently seen.
        return super().get_queryset(request).order_by(
            F("resolved_at").desc(nulls_first=True), "-last_seen_at", "-pk"
        )

    @admin.display(description=_("Open"), boolean=True)
    def is_open(self, obj):
        return obj.resolved_at is None

    @admin.display(description=_("Link"))
    def admin_link(self, obj):
        if not obj.link:
            return "-"
        return format_html('<a href="{}">{}</a>', obj.link, _("open"))

    @admin.action(description=_("Resolve the selected alerts"))
    def resolve(self, request, queryset):
        resolved = queryset.filter(resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        self.message_user(request, _("%d alert(s) resolved.") % resolved)
