"""Back office for the catalogue, scoped to the user's organisers."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    is_superuser,
)

from . import services
from .models import Event, Membership, Organiser, Session, TicketType, Venue

SESSION_COUNTERS = ("sold_count", "external_sold_count", "external_synced_at")


class CatalogueAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    """Saves that go through services; a refused change comes back as a message."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A service error raised while saving propagates out of the admin's own
        # transaction, so the object, its inlines and the history entry roll back.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (services.CatalogueError, ValidationError) as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def run_service(self, request, service: Callable, obj, **kwargs):
        """Call a catalogue service for the user; report an error, return None."""
        try:
            return service(actor=request.user, **kwargs)
        except (services.CatalogueError, ValidationError) as exc:
            self.message_user(request, f"{obj}: {_error_text(exc)}", messages.ERROR)
            return None


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@admin.register(Organiser)
class OrganiserAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "pk"
    add_roles = ()  # only superusers create organisers
    change_roles = (OWNER, MANAGER)
    delete_roles = ()
    list_display = ("name", "slug", "country", "currency", "reference_prefix")
    search_fields = ("name", "slug")

    def get_prepopulated_fields(self, request, obj=None):
        return {"slug": ("name",)} if obj is None else {}

    def get_readonly_fields(self, request, obj=None):
        if is_superuser(request):
            return ("created_at",)
        # Both appear in URLs and booking references already handed out.
        return ("slug", "reference_prefix", "created_at")


class MembershipForm(forms.ModelForm):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True),
        to_field_name="username",
        widget=forms.TextInput,
        help_text=_("Username of an existing account."),
        error_messages={"invalid_choice": _("No active account has this username.")},
    )

    class Meta:
        model = Membership
        fields = ["organiser", "user", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "user" in self.fields:
            self.initial["user"] = self.instance.user.get_username()

    def clean(self):
        cleaned = super().clean()
        membership = self.instance
        role = cleaned.get("role")
        if membership.pk and role and role != OWNER and _is_last_owner(membership):
            self.add_error("role", _("An organiser needs at least one owner."))
        return cleaned


def _is_last_owner(membership: Membership) -> bool:
    stored = (
        Membership.objects.filter(pk=membership.pk)
        .values_list("role", flat=True)
        .first()
    )
    return (
        stored == OWNER
        and not Membership.objects.filter(
            organiser_id=membership.organiser_id,
            role=OWNER,
        )
        .exclude(pk=membership.pk)
        .exists()
    )


@admin.register(Membership)
class MembershipAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    view_roles = (OWNER, MANAGER)
    add_roles = change_roles = delete_roles = (OWNER,)
    form = MembershipForm
    list_display = ("user", "organiser", "role", "created_at")
    list_filter = ("role", "organiser")
    list_select_related = ("user", "organiser")
    search_fields = ("user__username", "user__email")

    def get_readonly_fields(self, request, obj=None):
        return ("organiser", "user", "created_at") if obj else ()

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _is_last_owner(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        doomed = set(queryset.filter(role=OWNER).values_list("pk", flat=True))
        for organiser_id in set(queryset.values_list("organiser_id", flat=True)):
            owners = set(
                Membership.objects.filter(
                    organiser_id=organiser_id, role=OWNER
                ).values_list("pk", flat=True)
            )
            if owners and owners <= doomed:
                raise PermissionDenied(_("An organiser needs at least one owner."))
        super().delete_queryset(request, queryset)


@admin.register(Venue)
class VenueAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    list_display = ("name", "city", "country", "organiser")
    list_filter = ("country", "organiser")
    list_select_related = ("organiser",)
    search_fields = ("name", "city", "address")


class SessionForm(forms.ModelForm):
    class Meta:
        model = Session
        fields = "__all__"

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        session = self.instance
        sold = session.sold_count + session.external_sold_count if session.pk else 0
        if capacity is not None and capacity < sold:
            raise ValidationError(
                _("Capacity cannot be below the %(sold)d seats already sold."),
                params={"sold": sold},
                code="capacity_below_sold",
            )
        return capacity


class SessionInline(OrganiserScopedInline, admin.TabularInline):
    model = Session
    organiser_path = "event__organiser"
    form = SessionForm
    fields = (
        "venue",
        "starts_at",
        "ends_at",
        "sales_close_at",
        "capacity",
        "sale_status",
        *SESSION_COUNTERS,
    )
    readonly_fields = SESSION_COUNTERS
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event", "venue")


class TicketTypeInline(OrganiserScopedInline, admin.TabularInline):
    model = TicketType
    organiser_path = "event__organiser"
    fields = (
        "name",
        "kind",
        "price_minor",
        "allocation",
        "min_per_order",
        "max_per_order",
        "is_active",
        "position",
    )
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")


@admin.register(Event)
class EventAdmin(CatalogueAdmin):
    organiser_path = "organiser"
    list_display = ("title", "organiser", "status", "currency", "created_at")
    list_filter = ("status", "organiser")
    list_select_related = ("organiser",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    # Status moves only through the publish/unpublish actions, which audit it.
    readonly_fields = ("status", "created_at", "updated_at")
    inlines = (SessionInline, TicketTypeInline)
    actions = ("publish_events", "unpublish_events", "duplicate_events")

    def save_inline_object(self, request, obj, formset, change):
        changed = dict(
            (id(instance), fields) for instance, fields in formset.changed_objects
        )
        if obj.pk is None or id(obj) not in changed:
            obj.save()
            return
        fields = services.changed_model_fields(obj, changed[id(obj)])
        if isinstance(obj, Session):
            services.session_update(session=obj, actor=request.user, fields=fields)
        elif isinstance(obj, TicketType):
            services.ticket_type_update(
                ticket_type=obj, actor=request.user, fields=fields
            )
        else:
            obj.save()

    def _run_for_each(self, request, queryset, service, roles, done_message):
        done = 0
        for event in queryset.select_related("organiser"):
            if not self._obj_allows(request, roles, event):
                self.message_user(
                    request,
                    _("%(event)s: you may not do this.") % {"event": event},
                    messages.ERROR,
                )
                continue
            if self.run_service(request, service, event, event=event) is not None:
                done += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=_("Publish selected events"), permissions=["change"])
    def publish_events(self, request, queryset):
        self._run_for_each(
            request,
            queryset,
            services.event_publish,
            self.change_roles,
            lambda n: ngettext("Published %d event.", "Published %d events.", n) % n,
        )

    @admin.action(description=_("Unpublish selected events"), permissions=["change"])
    def unpublish_events(self, request, queryset):
        self._run_for_each(
            request,
            queryset,
            services.event_unpublish,
            self.change_roles,
            lambda n: (
                ngettext("Unpublished %d event.", "Unpublished %d events.", n) % n
            ),
        )

    @admin.action(
        description=_("Duplicate selected events as drafts"), permissions=["add"]
    )
    def duplicate_events(self, request, queryset):
        self._run_for_each(
            request,
            queryset,
            services.event_duplicate,
            self.add_roles,
            lambda n: (
                ngettext(
                    "Duplicated %d event as a draft.",
                    "Duplicated %d events as drafts.",
                    n,
                )
                % n
            ),
        )


@admin.register(Session)
class SessionAdmin(CatalogueAdmin):
    organiser_path = "event__organiser"
    form = SessionForm
    list_display = (
        "event",
        "city",
        "starts_at",
        "capacity",
        "sold_count",
        "external_sold_count",
        "sale_status",
    )
    list_filter = ("sale_status", "event__organiser")
    list_select_related = ("event", "venue")
    search_fields = ("event__title", "venue__name", "venue__city")
    date_hierarchy = "starts_at"
    readonly_fields = SESSION_COUNTERS

    @admin.display(description=_("City"), ordering="venue__city")
    def city(self, obj):
        return obj.venue.city

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        self.check_organiser(request, obj, self.change_roles)
        services.session_update(
            session=obj,
            actor=request.user,
            fields=services.changed_model_fields(obj, form.changed_data),
        )


@admin.register(TicketType)
class TicketTypeAdmin(CatalogueAdmin):
    organiser_path = "event__organiser"
    list_display = ("name", "event", "kind", "price", "allocation", "is_active")
    list_filter = ("kind", "is_active", "event__organiser")
    list_select_related = ("event",)
    search_fields = ("name", "event__title")

    @admin.display(description=_("Price"), ordering="price_minor")
    def price(self, obj):
        return obj.price

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        self.check_organiser(request, obj, self.change_roles)
        services.ticket_type_update(
            ticket_type=obj,
            actor=request.user,
            fields=services.changed_model_fields(obj, form.changed_data),
        )
