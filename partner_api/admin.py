"""API keys in the back office: created here and shown once; partner webhooks."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Membership
from ticketing.admin_scoping import OrganiserScopedAdmin
from ticketing.audit import audit_log

from .api_keys import SCOPES, ApiKey
from .webhooks import admin as _webhook_admin  # noqa: F401  (registers its admins)


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
        label=_("Scopes"),
    )

    class Meta:
        model = ApiKey
        fields = ("organiser", "name", "scopes", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    """Keys are created here and shown once; afterwards only their prefix is known."""

    organiser_path = "organiser"
    add_roles = change_roles = (Membership.Role.OWNER, Membership.Role.MANAGER)
    delete_roles = ()
    list_display = (
        "name",
        "organiser",
        "prefix",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("organiser",)
    readonly_fields = (
        "prefix",
        "scopes",
        "last_used_at",
        "revoked_at",
        "created_by",
        "created_at",
    )
    actions = ("revoke",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        self.check_organiser(request, obj, self.add_roles)
        key, plain = ApiKey.generate(
            organiser=obj.organiser,
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            expires_at=obj.expires_at,
            created_by=request.user,
        )
        with transaction.atomic():
            key.save()
            audit_log(
                action="events.api_key.created",
                obj=key,
                organiser_id=key.organiser_id,
                actor=request.user,
                data={"name": key.name, "scopes": key.scopes, "prefix": key.prefix},
            )
        obj.pk, obj.prefix = key.pk, key.prefix
        self.message_user(
            request,
            _("Copy this key now, it will not be shown again: %(key)s")
            % {"key": plain},
            level=messages.WARNING,
        )

    @admin.action(description=_("Revoke selected keys"))
    def revoke(self, request, queryset):
        now = timezone.now()
        for key in queryset.filter(revoked_at__isnull=True):
            self.check_organiser(request, key, self.change_roles)
            with transaction.atomic():
                key.revoke(now)
                audit_log(
                    action="events.api_key.revoked",
                    obj=key,
                    organiser_id=key.organiser_id,
                    actor=request.user,
                    data={"prefix": key.prefix},
                )
        self.message_user(request, _("Keys revoked."))
