"""Stripe Connect in the back office: "Connect with Stripe", onboarding and health.

Adding a Stripe Connect account creates the organiser's connected account at Stripe
(or adopts an existing `acct_…`) and sends the organiser straight to Stripe's
onboarding; Stripe brings them back to `…/return/`, which reads the account's state.
The list shows, per organiser, whether Stripe lets the account take charges and pay
out, what Stripe still needs and when it last said the account changed.

The platform's fee and whether refunds return it are the platform's to set: only
superusers may change them.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from ticketing.admin_scoping import MANAGER, OWNER, OrganiserScopedAdmin, is_superuser
from ticketing.audit import audit_log

from .exceptions import PaymentError
from .models import ConnectedAccount
from .providers.base import ProviderError
from .services.connect import (
    connected_account_link,
    connected_account_onboarding_url,
    connected_account_refresh,
)

_MONEY_ROLES = (OWNER, MANAGER)
_STATE_FIELDS = (
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements_due",
    "disabled_reason",
    "state_checked_at",
    "last_account_updated_at",
)
_PLATFORM_FIELDS = ("fee_percent", "fee_fixed_minor", "refunds_application_fee")
_POLICY_FIELDS = ("is_merchant_of_record", *_PLATFORM_FIELDS)


class ConnectAddForm(forms.ModelForm):
    existing_account = forms.RegexField(
        regex=r"^acct_[A-Za-z0-9]+$",
        required=False,
        label=_("Existing Stripe account"),
        help_text=_(
            "An acct_… already connected to this platform. Leave empty to create a "
            "new account: Stripe then asks the organiser for what it needs."
        ),
    )

    class Meta:
        model = ConnectedAccount
        fields = ("organiser",)


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = change_roles = delete_roles = _MONEY_ROLES
    change_form_template = "admin/payments/connectedaccount/change_form.html"
    list_display = (
        "organiser",
        "account_id",
        "charges_enabled",
        "payouts_enabled",
        "requirements_summary",
        "last_account_updated_at",
        "state_checked_at",
    )
    list_filter = ("charges_enabled", "payouts_enabled")
    search_fields = ("account_id", "organiser__name")
    actions = ("refresh_from_stripe",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ConnectAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("organiser", "existing_account")}),)
        return (
            (None, {"fields": ("organiser", "account_id")}),
            (_("State at Stripe"), {"fields": _STATE_FIELDS}),
            (
                _("Payments and fees"),
                {
                    "fields": _POLICY_FIELDS,
                    "description": _(
                        "Card payments go to this account as soon as Stripe lets it "
                        "take charges, less the platform's fee: a percentage plus a "
                        "fixed part per ticket."
                    ),
                },
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ("organiser", "account_id", *_STATE_FIELDS)
        if not is_superuser(request):
            readonly += _PLATFORM_FIELDS
        return readonly

    @admin.display(description=_("Stripe still needs"))
    def requirements_summary(self, account):
        due = account.requirements_due or []
        if not due:
            return "—"
        more = f" (+{len(due) - 3})" if len(due) > 3 else ""
        return ", ".join(due[:3]) + more

    # Adding = "Connect with Stripe"

    def save_model(self, request, obj, form, change):
        if change:
            self.check_organiser(request, obj, self.change_roles)
            before = ConnectedAccount.objects.filter(pk=obj.pk).values(*_POLICY_FIELDS)[
                0
            ]
            super().save_model(request, obj, form, change)
            after = {name: getattr(obj, name) for name in _POLICY_FIELDS}
            if before != after:
                audit_log(
                    action="payments.connect.settings_changed",
                    obj=obj,
                    organiser_id=obj.organiser_id,
                    actor=request.user,
                    data={"before": _jsonable(before), "after": _jsonable(after)},
                )
            return
        self.check_organiser(request, obj, self.add_roles)
        try:
            account = connected_account_link(
                organiser_id=obj.organiser_id,
                account_id=form.cleaned_data.get("existing_account") or "",
                actor=request.user,
            )
        except (PaymentError, ProviderError) as error:
            request._connect_error = str(getattr(error, "message", error))
            return
        for field in ConnectedAccount._meta.concrete_fields:  # the admin logs `obj`
            setattr(obj, field.attname, getattr(account, field.attname))

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_connect_error", None):
            self.message_user(
                request,
                _("Stripe could not connect this organiser: %(error)s")
                % {"error": request._connect_error},
                level=messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:payments_connectedaccount_add"))
        if obj.charges_enabled:
            return super().response_add(request, obj, post_url_continue)
        return HttpResponseRedirect(self._url("onboard", obj.pk))

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    # Onboarding and return

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/onboard/",
                view(self.onboard_view),
                name="payments_connectedaccount_onboard",
            ),
            path(
                "<int:pk>/return/",
                view(self.return_view),
                name="payments_connectedaccount_return",
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, pk: int, absolute: bool = False) -> str:
        url = reverse(f"admin:payments_connectedaccount_{name}", args=[pk])
        return settings.SITE_URL + url if absolute else url

    def _account(self, request, pk: int) -> ConnectedAccount:
        account = get_object_or_404(self.get_queryset(request), pk=pk)
        self.check_organiser(request, account, self.change_roles)
        return account

    def onboard_view(self, request, pk: int):
        """A fresh Account Link, made on every visit (Stripe's refresh_url too)."""
        account = self._account(request, pk)
        try:
            url = connected_account_onboarding_url(
                account_pk=account.pk,
                refresh_url=self._url("onboard", account.pk, absolute=True),
                return_url=self._url("return", account.pk, absolute=True),
            )
        except (PaymentError, ProviderError) as error:
            self.message_user(
                request,
                _("Stripe's onboarding could not be opened: %(error)s")
                % {"error": getattr(error, "message", error)},
                level=messages.ERROR,
            )
            return HttpResponseRedirect(self._url("change", account.pk))
        return HttpResponseRedirect(url)

    def return_view(self, request, pk: int):
        """Back from Stripe: returning does not mean onboarding is finished, so the
        account is read again and the page says what Stripe still needs."""
        account = self._account(request, pk)
        try:
            account = connected_account_refresh(
                account_pk=account.pk, source="return", actor=request.user
            )
        except (PaymentError, ProviderError) as error:
            self.message_user(
                request,
                _("Stripe could not be asked: %(error)s")
                % {"error": getattr(error, "message", error)},
                level=messages.ERROR,
            )
            return HttpResponseRedirect(self._url("change", account.pk))
        self._report_state(request, account)
        return HttpResponseRedirect(self._url("change", account.pk))

    def _report_state(self, request, account: ConnectedAccount) -> None:
        if account.charges_enabled:
            self.message_user(
                request,
                _(
                    "Stripe accepts card payments for %(organiser)s: buyers pay into "
                    "this account."
                )
                % {"organiser": account.organiser},
            )
            return
        due = ", ".join(account.requirements_due) or _("its review to finish")
        self.message_user(
            request,
            _(
                "Stripe cannot take payments for this account yet. It still needs: "
                "%(due)s."
            )
            % {"due": due},
            level=messages.WARNING,
        )

    @admin.action(description=_("Read the state from Stripe again"))
    def refresh_from_stripe(self, request, queryset):
        for account in queryset:
            self.check_organiser(request, account, self.change_roles)
            try:
                connected_account_refresh(
                    account_pk=account.pk, source="admin", actor=request.user
                )
            except (PaymentError, ProviderError) as error:
                self.message_user(
                    request,
                    f"{account.account_id}: {getattr(error, 'message', error)}",
                    level=messages.ERROR,
                )


def _jsonable(values: dict) -> dict:
    return {
        name: str(value) if value is not None and name == "fee_percent" else value
        for name, value in values.items()
    }
