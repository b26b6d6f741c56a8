"""Back office for the catalogue, scoped to the user's organisers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    ValidationError,
)
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ticketing.admin_localtime import LocalTimeAdminMixin
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    is_superuser,
)
from ticketing.forms import LocalisedModelForm
from ticketing.lib.localtime import local_datetime
from ticketing.lib.money import money_display

from . import selectors, services
from .models import (
    Event,
    Membership,
    Organiser,
    Session,
    TaxRate,
    TicketType,
    Venue,
)

SESSION_COUNTERS = ("sold_count", "external_sold_count", "external_synced_at")


class CatalogueAdmin(LocalTimeAdminMixin, OrganiserScopedAdmin, admin.ModelAdmin):
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
    list_display = ("name", "city", "country", "timezone", "organiser")
    list_filter = ("country", "organiser")
    list_select_related = ("organiser",)
    search_fields = ("name", "city", "address")

    def get_changeform_initial_data(self, request):
        """A new venue starts on its organiser's clock (one organiser: no doubt)."""
        initial = super().get_changeform_initial_data(request)
        organiser_ids = self._writable_organiser_ids(request)
        if "timezone" not in initial and len(organiser_ids) == 1:
            organiser = Organiser.objects.get(pk=organiser_ids[0])
            initial["timezone"] = organiser.timezone
        return initial


def _related(instance, name: str):
    """`instance.<name>` or None, also for a row whose foreign key is not set yet."""
    try:
        return getattr(instance, name)
    except ObjectDoesNotExist:
        return None


def _zone_of_event(event_id) -> dt.tzinfo | None:
    name = Event.objects.filter(pk=event_id).values_list("timezone", flat=True).first()
    return zoneinfo.ZoneInfo(name) if name else None


def _posted_pk(form: LocalisedModelForm, name: str) -> int | None:
    value = form.posted(name)
    return int(value) if value and str(value).isdigit() else None


class EventForm(LocalisedModelForm):
    """Sales windows on the event's own clock (the zone posted with them)."""

    class Meta:
        model = Event
        fields = "__all__"

    def local_zone(self):
        name = self.posted("timezone") or self.instance.timezone
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            return self.instance.tzinfo if self.instance.timezone else dt.UTC


class SessionForm(LocalisedModelForm):
    """Times typed and shown on the venue's clock: the one posted, else the
    session's, else the event's (a new row before its venue is chosen)."""

    unknown_zone_label = _("Local time at the venue")

    class Meta:
        model = Session
        fields = "__all__"

    def local_zone(self):
        venue_id = _posted_pk(self, "venue") or self.instance.venue_id
        if venue_id:
            name = (
                Venue.objects.filter(pk=venue_id)
                .values_list("timezone", flat=True)
                .first()
            )
            if name:
                return zoneinfo.ZoneInfo(name)
        event = _related(self.instance, "event")
        if event is not None and event.timezone:
            return event.tzinfo
        event_id = _posted_pk(self, "event")
        return _zone_of_event(event_id) if event_id else None

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


class TicketTypeForm(LocalisedModelForm):
    """Prices in the event's currency units; deadlines on the event's clock."""

    money_fields = ("price_minor", "early_bird_price_minor")

    class Meta:
        model = TicketType
        fields = "__all__"

    def _event(self):
        event = _related(self.instance, "event")
        if event is None and (event_id := _posted_pk(self, "event")):
            event = Event.objects.filter(pk=event_id).first()
        return event

    unknown_zone_label = _("Local time of the event")

    def local_zone(self):
        event = self._event()
        return event.tzinfo if event is not None and event.timezone else None

    def money_currency(self):
        event = self._event()
        return event.currency if event is not None else ""


class TicketTypeInline(OrganiserScopedInline, admin.TabularInline):
    model = TicketType
    organiser_path = "event__organiser"
    form = TicketTypeForm
    fields = (
        "name",
        "kind",
        "price_minor",
        "tax_rate",
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
    form = EventForm
    list_display = ("title", "organiser", "status", "currency", "created_at")
    list_filter = ("status", "organiser")
    list_select_related = ("organiser",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    # Status moves only through the publish/unpublish actions, which audit it.
    readonly_fields = ("status", "created_at", "updated_at")
    inlines = (SessionInline, TicketTypeInline)
    actions = ("publish_events", "unpublish_events", "duplicate_events")

    def admin_zone(self, request, event):
        return event.tzinfo

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


class SessionWhenFilter(admin.SimpleListFilter):
    """Upcoming, on sale and ended as the buyer pages and the API mean them: the same
    selectors, so the three never disagree about a session that has started."""

    title = _("when")
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return (
            ("upcoming", _("Upcoming (not ended)")),
            ("on_sale", _("On sale now")),
            ("ended", _("Ended")),
        )

    def queryset(self, request, queryset):
        narrow = {
            "upcoming": selectors.sessions_upcoming,
            "on_sale": selectors.sessions_on_sale,
            "ended": selectors.sessions_ended,
        }.get(self.value())
        return narrow(queryset) if narrow else queryset


@admin.register(Session)
class SessionAdmin(CatalogueAdmin):
    organiser_path = "event__organiser"
    form = SessionForm
    list_display = (
        "event",
        "city",
        "local_starts_at",
        "capacity",
        "sold_count",
        "external_sold_count",
        "sale_status",
        "door_list",
    )
    list_filter = (SessionWhenFilter, "sale_status", "event__organiser")
    list_select_related = ("event", "venue")
    search_fields = ("event__title", "venue__name", "venue__city")
    date_hierarchy = "starts_at"
    readonly_fields = SESSION_COUNTERS

    @admin.display(description=_("City"), ordering="venue__city")
    def city(self, obj):
        return obj.venue.city

    @admin.display(description=_("Starts (local time)"), ordering="starts_at")
    def local_starts_at(self, obj):
        return local_datetime(obj.starts_at, obj, "admin")

    @admin.display(description=_("Door list"))
    def door_list(self, obj):
        # The back office serves it (a URL, not an import: events sits below it).
        url = reverse("backoffice:door-list", args=[obj.pk])
        return format_html(
            '<a href="{}" data-testid="door-list-pdf">PDF</a> · '
            '<a href="{}?format=csv">CSV</a>',
            url,
            url,
        )

    def admin_zone(self, request, obj):
        return obj.tzinfo

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
    form = TicketTypeForm
    list_display = ("name", "event", "kind", "price", "allocation", "is_active")
    list_filter = ("kind", "is_active", "event__organiser")
    list_select_related = ("event",)
    search_fields = ("name", "event__title")

    @admin.display(description=_("Price"), ordering="price_minor")
    def price(self, obj):
        return money_display(obj.price_minor, obj.event.currency)

    def admin_zone(self, request, obj):
        return obj.event.tzinfo

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        self.check_organiser(request, obj, self.change_roles)
        services.ticket_type_update(
            ticket_type=obj,
            actor=request.user,
            fields=services.changed_model_fields(obj, form.changed_data),
        )


@admin.register(TaxRate)
class TaxRateAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    """An organiser's tax rates; a rate in use by a ticket type cannot be deleted."""

    organiser_path = "organiser"
    change_roles = (OWNER, MANAGER)
    add_roles = (OWNER, MANAGER)
    list_display = ("name", "percent", "is_exempt", "account_code", "organiser")
    list_filter = ("is_exempt", "organiser")
    search_fields = ("name", "account_code")
