"""Back office for platform connections: credentials (write-only), listings and their
last figures with their age, sync runs, imported orders, webhooks, oversold alerts,
"sync now" and cache invalidation."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    is_superuser,
)
from ticketing.audit import audit_log
from ticketing.lib.http import BreakerState, breaker_for

from .exceptions import SyncError
from .models import (
    Connection,
    ExternalOrder,
    Listing,
    OversoldAlert,
    PlatformWebhook,
    SyncRun,
)
from .selectors import connection_latest_run
from .services import cache as listing_cache
from .services.connections import connection_delete, connection_save, listing_save
from .services.sync_jobs import connection_sync_enqueue
from .services.webhooks import platform_webhook_process

_CREDENTIAL_ROLES = (OWNER, MANAGER)
_WEBHOOK_PLATFORMS = {
    "eventbrite": "eventbrite-webhook",
    "humanitix": "humanitix-webhook",
}


def _age(moment) -> str:
    if moment is None:
        return "—"
    return _("%(age)s ago") % {"age": timesince(moment, timezone.now())}


def _run_link(run: SyncRun) -> str:
    url = reverse("admin:integrations_syncrun_change", args=[run.pk])
    return format_html('<a href="{}">{}</a>', url, _("sync #%(id)d") % {"id": run.pk})


def _sync_now(model_admin, request, connection_id: int, listing_ids=None) -> None:
    """Queue a sync (or find the one running) and say where to follow it; the
    request never waits for the platforms."""
    try:
        run, created = connection_sync_enqueue(
            connection_id=connection_id,
            trigger=SyncRun.Trigger.MANUAL,
            actor=request.user,
            actor_label=request.user.get_username(),
            listing_ids=listing_ids,
            force=True,
        )
    except SyncError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
        return
    run.refresh_from_db()  # with tasks run in-process it has already finished
    if created:
        text = _("%(run)s queued for %(connection)s: %(status)s.")
    else:
        text = _("%(run)s of %(connection)s was already running; it goes on.")
    values = {
        "run": _run_link(run),
        "connection": conditional_escape(str(run.connection)),
        "status": conditional_escape(run.get_status_display()),
    }
    model_admin.message_user(request, mark_safe(text % values))  # values escaped


def _run_counts(run: SyncRun) -> str:
    return _("%(synced)d synced, %(cached)d cached, %(failed)d failed") % {
        "synced": run.listings_synced,
        "cached": run.listings_cached,
        "failed": run.listings_failed,
    }


# A running run's page reloads itself this often, so its counts move on their own.
_RUN_REFRESH_SECONDS = 3


class ConnectionForm(forms.ModelForm):
    token = forms.CharField(
        label=_("API key or token"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep."),
    )

    class Meta:
        model = Connection
        fields = (
            "organiser",
            "platform",
            "name",
            "account_id",
            "is_enabled",
            "sync_interval_minutes",
        )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("token"):
            self.add_error("token", _("A new connection needs its API key or token."))
        return cleaned


class ListingInline(OrganiserScopedInline, admin.TabularInline):
    model = Listing
    organiser_path = "connection__organiser"
    extra = 0
    fields = (
        "session",
        "external_event_id",
        "external_date_id",
        "external_ticket_ids",
        "is_enabled",
        "places_total",
        "places_sold",
        "synced_age",
        "is_stale",
        "last_error",
    )
    readonly_fields = (
        "places_total",
        "places_sold",
        "synced_age",
        "is_stale",
        "last_error",
    )

    @admin.display(description=_("Fetched"))
    def synced_age(self, listing):
        return _age(listing.values_synced_at)


@admin.register(Connection)
class ConnectionAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = change_roles = delete_roles = _CREDENTIAL_ROLES
    form = ConnectionForm
    inlines = (ListingInline,)
    list_display = (
        "__str__",
        "platform",
        "is_enabled",
        "sync_interval_minutes",
        "last_sync_age",
        "last_success_age",
        "circuit",
        "credentials_refused",
    )
    list_filter = ("platform", "is_enabled")
    readonly_fields = (
        "has_credentials",
        "webhook_url",
        "last_sync_at",
        "last_success_at",
        "last_error",
        "auth_failed_at",
        "circuit",
        "latest_run",
    )
    actions = ("sync_now", "invalidate_cache", "invalidate_platform_cache")

    def get_readonly_fields(self, request, obj=None):
        # Another platform would keep this one's credentials, listings and orders.
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "platform") if obj is not None else fields

    @admin.display(boolean=True, description=_("Credentials set"))
    def has_credentials(self, connection):
        return connection.has_credentials

    @admin.display(description=_("Webhook address"))
    def webhook_url(self, connection):
        name = _WEBHOOK_PLATFORMS.get(connection.platform)
        if not name or connection.pk is None:
            return _("This platform has no webhooks: it is polled on the schedule.")
        return reverse(f"integrations:{name}", args=[connection.webhook_token])

    @admin.display(description=_("Last sync"))
    def last_sync_age(self, connection):
        return _age(connection.last_sync_at)

    @admin.display(description=_("Last success"))
    def last_success_age(self, connection):
        return _age(connection.last_success_at)

    @admin.display(boolean=True, description=_("Credentials refused"))
    def credentials_refused(self, connection):
        return connection.auth_failed_at is not None

    @admin.display(description=_("Circuit breaker"))
    def circuit(self, connection):
        status = breaker_for(connection.platform).status()
        if status.state == BreakerState.OPEN:
            return _("open: calls paused for %(s)d s") % {"s": status.retry_in}
        if status.state == BreakerState.HALF_OPEN:
            return _("half-open: the next call probes")
        return _("closed (%(n)d recent failures)") % {"n": status.failures}

    @admin.display(description=_("Latest sync"))
    def latest_run(self, connection):
        run = connection_latest_run(connection) if connection.pk else None
        if run is None:
            return _("None yet.")
        return format_html(
            "{}: {} ({})",
            _run_link(run),
            run.get_status_display(),
            _run_counts(run),
        )

    def save_model(self, request, obj, form, change):
        self.check_organiser(
            request, obj, self.change_roles if change else self.add_roles
        )
        connection_save(
            connection=obj, token=form.cleaned_data.get("token"), actor=request.user
        )

    def save_inline_object(self, request, obj, formset, change) -> None:
        listing_save(listing=obj, actor=request.user)

    def delete_model(self, request, obj):
        self.check_organiser(request, obj, self.delete_roles)
        connection_delete(connection=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for connection in queryset:
            self.delete_model(request, connection)

    @admin.action(description=_("Sync now"), permissions=("change",))
    def sync_now(self, request, queryset):
        for connection in queryset:
            audit_log(
                action="integrations.sync_requested",
                obj=connection,
                organiser_id=connection.organiser_id,
                actor=request.user,
            )
            _sync_now(self, request, connection.pk)

    @admin.action(
        description=_("Forget cached figures of these connections"),
        permissions=("change",),
    )
    def invalidate_cache(self, request, queryset):
        count = 0
        for listing in Listing.objects.filter(connection__in=queryset).select_related(
            "connection"
        ):
            listing_cache.listing_invalidate(listing.connection.platform, listing.pk)
            count += 1
        self.message_user(
            request, _("%(n)d listing(s) will be fetched again.") % {"n": count}
        )

    @admin.action(
        description=_("Forget cached figures of the whole platform (all organisers)"),
        permissions=("change",),
    )
    def invalidate_platform_cache(self, request, queryset):
        if not is_superuser(request):
            self.message_user(
                request, _("Only a superuser may do this."), messages.ERROR
            )
            return
        platforms = sorted(set(queryset.values_list("platform", flat=True)))
        for platform in platforms:
            listing_cache.platform_invalidate(platform)
        self.message_user(
            request, _("Cache cleared for %(p)s.") % {"p": ", ".join(platforms)}
        )


@admin.register(Listing)
class ListingAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "connection__organiser"
    list_display = (
        "__str__",
        "session",
        "connection",
        "places_total",
        "places_sold",
        "synced_age",
        "is_stale",
        "last_error",
    )
    list_filter = ("connection__platform", "is_stale", "is_enabled")
    search_fields = ("external_event_id", "external_date_id")
    list_select_related = ("connection__organiser", "session__event")
    readonly_fields = (
        "places_total",
        "places_sold",
        "values_synced_at",
        "is_stale",
        "last_error",
        "last_error_at",
        "orders_synced_until",
    )
    actions = ("sync_now", "invalidate_cache")

    @admin.display(description=_("Fetched"))
    def synced_age(self, listing):
        return _age(listing.values_synced_at)

    def save_model(self, request, obj, form, change):
        self.check_organiser(
            request, obj, self.change_roles if change else self.add_roles
        )
        listing_save(listing=obj, actor=request.user)

    @admin.action(description=_("Sync now"), permissions=("change",))
    def sync_now(self, request, queryset):
        by_connection: dict[int, list[int]] = {}
        for listing in queryset.select_related("connection"):
            by_connection.setdefault(listing.connection_id, []).append(listing.pk)
            audit_log(
                action="integrations.sync_requested",
                obj=listing,
                organiser_id=listing.connection.organiser_id,
                actor=request.user,
            )
        for connection_id, listing_ids in by_connection.items():
            _sync_now(self, request, connection_id, listing_ids)

    @admin.action(description=_("Forget cached figures"), permissions=("change",))
    def invalidate_cache(self, request, queryset):
        for listing in queryset.select_related("connection"):
            listing_cache.listing_invalidate(listing.connection.platform, listing.pk)
        self.message_user(
            request, _("%(n)d listing(s) will be fetched again.") % {"n": len(queryset)}
        )


class _ReadOnlyAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    add_roles = change_roles = delete_roles = ()

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


@admin.register(SyncRun)
class SyncRunAdmin(_ReadOnlyAdmin):
    organiser_path = "connection__organiser"
    list_display = (
        "started_at",
        "connection",
        "trigger",
        "status",
        "listings_synced",
        "listings_cached",
        "listings_failed",
        "orders_imported",
        "duration_ms",
    )
    list_filter = ("status", "trigger", "platform")
    list_select_related = ("connection__organiser",)
    change_form_template = "admin/integrations/syncrun/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        running = run is not None and run.status == SyncRun.Status.RUNNING
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": _RUN_REFRESH_SECONDS if running else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ExternalOrder)
class ExternalOrderAdmin(_ReadOnlyAdmin):
    organiser_path = "listing__connection__organiser"
    list_display = (
        "external_id",
        "listing",
        "status",
        "quantity",
        "buyer_name",
        "placed_at",
    )
    list_filter = ("status", "listing__connection__platform")
    search_fields = ("external_id", "buyer_email", "buyer_name")
    list_select_related = ("listing",)


@admin.register(PlatformWebhook)
class PlatformWebhookAdmin(_ReadOnlyAdmin):
    organiser_path = "connection__organiser"
    change_roles = _CREDENTIAL_ROLES
    list_display = ("received_at", "platform", "action", "status", "attempts", "error")
    list_filter = ("status", "platform")
    actions = ("process_again",)

    @admin.action(description=_("Process again now"), permissions=("change",))
    def process_again(self, request, queryset):
        statuses = [
            platform_webhook_process(webhook_id=webhook.pk).status
            for webhook in queryset.exclude(status=PlatformWebhook.Status.REJECTED)
        ]
        self.message_user(
            request,
            _("%(n)d delivery(ies) processed.")
            % {"n": statuses.count(PlatformWebhook.Status.PROCESSED)},
        )


@admin.register(OversoldAlert)
class OversoldAlertAdmin(_ReadOnlyAdmin):
    organiser_path = "session__event__organiser"
    change_roles = _CREDENTIAL_ROLES
    list_display = (
        "session",
        "capacity",
        "sold_here",
        "held_here",
        "sold_external",
        "oversold",
        "created_at",
        "resolved_at",
    )
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    list_select_related = ("session__event",)
    actions = ("resolve",)

    @admin.display(description=_("Over capacity by"))
    def oversold(self, alert):
        return format_html("<strong>{}</strong>", alert.oversold_by)

    @admin.action(description=_("Mark as handled"), permissions=("change",))
    def resolve(self, request, queryset):
        now = timezone.now()
        for alert in queryset.filter(resolved_at__isnull=True).select_related(
            "session__event"
        ):
            with transaction.atomic():
                OversoldAlert.objects.filter(pk=alert.pk).update(resolved_at=now)
                audit_log(
                    action="integrations.session.oversold_handled",
                    obj=alert.session,
                    organiser_id=alert.session.event.organiser_id,
                    actor=request.user,
                    data={"oversold_by": alert.oversold_by},
                )
        self.message_user(request, _("Alerts marked as handled."))
