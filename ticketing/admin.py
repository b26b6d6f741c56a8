import json

from django.contrib import admin
from django.db.models import F
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import outbox
from .admin_scoping import OrganiserScopedAdmin
from .models import Alert, AuditEntry, OutboxMessage


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
