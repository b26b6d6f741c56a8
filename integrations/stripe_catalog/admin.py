"""The catalogue sync in the back office: every push in a list, and above it the
health per organiser (successes and failures in the last 24 h, last sync) with a
"Resync all" button per organiser (safe twice: the pushes coalesce on their keys)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    is_superuser,
    user_organiser_ids,
)

from .models import CatalogSyncLog
from .selectors import catalog_health
from .services import catalog_resync

_RESYNC_ROLES = (OWNER, MANAGER)


@admin.register(CatalogSyncLog)
class CatalogSyncLogAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = change_roles = delete_roles = ()
    change_list_template = "admin/stripe_catalog/catalogsynclog/change_list.html"
    list_display = (
        "created_at",
        "organiser",
        "entity",
        "object_id",
        "action",
        "status",
        "stripe_id",
        "account_id",
        "error_excerpt",
    )
    list_filter = ("status", "entity", "action")
    search_fields = ("stripe_id", "account_id", "=object_id")
    actions = ("resync_organisers",)
    list_select_related = ("organiser",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Error"))
    def error_excerpt(self, log):
        return log.error[:120]

    def _health_scope(self, request) -> list[int] | None:
        return None if is_superuser(request) else user_organiser_ids(request)

    def changelist_view(self, request, extra_context=None):
        overall, rows = catalog_health(self._health_scope(request))
        resyncable = (
            None
            if is_superuser(request)
            else set(user_organiser_ids(request, _RESYNC_ROLES))
        )
        extra_context = {
            **(extra_context or {}),
            "health_overall": overall,
            "health_rows": [
                (
                    row,
                    row.organiser_id is not None
                    and (resyncable is None or row.organiser_id in resyncable),
                )
                for row in rows
            ],
        }
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        return [
            path(
                "resync/<int:organiser_id>/",
                self.admin_site.admin_view(self.resync_view),
                name="stripe_catalog_catalogsynclog_resync",
            ),
            *super().get_urls(),
        ]

    def _resync(self, request, organiser_ids) -> int:
        allowed = (
            None
            if is_superuser(request)
            else set(user_organiser_ids(request, _RESYNC_ROLES))
        )
        queued = 0
        for organiser_id in organiser_ids:
            if allowed is not None and organiser_id not in allowed:
                raise PermissionDenied
            queued += catalog_resync(organiser_id=organiser_id, actor=request.user)
        self.message_user(
            request,
            ngettext(
                "%(count)d event or ticket type queued for Stripe.",
                "%(count)d events and ticket types queued for Stripe.",
                queued,
            )
            % {"count": queued},
            level=messages.SUCCESS,
        )
        return queued

    def resync_view(self, request, organiser_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._resync(request, [organiser_id])
        return HttpResponseRedirect(
            reverse("admin:stripe_catalog_catalogsynclog_changelist")
        )

    @admin.action(description=_("Resync all of these organisers' catalogues"))
    def resync_organisers(self, request, queryset):
        ids = sorted(
            {pk for pk in queryset.values_list("organiser_id", flat=True) if pk}
        )
        self._resync(request, ids)
