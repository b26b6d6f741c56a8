"""Xero in the back office: connect, choose the organisation, map accounts and tax
rates, watch the connection's health; and each invoice's state in Xero.

Connecting: add a Xero connection for the organiser, then "Connect to Xero" (Xero's
consent page, back to `…/callback/`). With several organisations granted, pick one
on the connection's page. The tax types and accounts read from Xero become the
choices of the mapping.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from invoicing.admin import InvoiceAdmin
from invoicing.models import Invoice
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
)
from ticketing.models import OutboxMessage

from .exceptions import XeroConnectError
from .models import XeroConnection, XeroDocument, XeroTaxMapping
from .services import connection as connect
from .services.push import PUSH_KIND, push_again

_ROLES = (OWNER, MANAGER)


def callback_uri(request) -> str:
    return request.build_absolute_uri(reverse("admin:xero_xeroconnection_callback"))


def _choices(options: list[dict], key: str) -> list[tuple[str, str]]:
    return [("", "—")] + [(o[key], f"{o[key]} · {o.get('Name', '')}") for o in options]


class XeroConnectionForm(forms.ModelForm):
    tenant = forms.ChoiceField(
        required=False,
        label=_("Xero organisation"),
        help_text=_("You granted access to several: choose the one to use."),
    )

    class Meta:
        model = XeroConnection
        fields = (
            "organiser",
            "sales_account_code",
            "bills_account_code",
            "payment_account_code",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        connection = self.instance
        offered = connection.tenants_offered if connection.pk else []
        self.fields["tenant"].choices = [("", "—")] + [
            (t["tenant_id"], t["name"]) for t in offered
        ]
        accounts = connection.accounts if connection.pk else []
        if accounts:
            for name, kinds in (
                ("sales_account_code", {"REVENUE", "SALES", "OTHERINCOME"}),
                ("bills_account_code", {"EXPENSE", "DIRECTCOSTS", "OVERHEADS"}),
                ("payment_account_code", {"BANK"}),
            ):
                if name in self.fields:
                    fitting = [a for a in accounts if a.get("Type") in kinds]
                    self.fields[name] = forms.ChoiceField(
                        required=False,
                        choices=_choices(fitting or accounts, "Code"),
                        label=self.fields[name].label,
                        help_text=self.fields[name].help_text,
                    )


class XeroTaxMappingForm(forms.ModelForm):
    class Meta:
        model = XeroTaxMapping
        fields = ("tax_rate", "tax_type")


class XeroTaxMappingInline(OrganiserScopedInline, admin.TabularInline):
    model = XeroTaxMapping
    organiser_path = "connection__organiser"
    form = XeroTaxMappingForm
    extra = 1
    verbose_name = _("Tax rate in Xero")
    verbose_name_plural = _("Our tax rates → Xero tax types")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None and obj.tax_types:
            formset.form.base_fields["tax_type"] = forms.ChoiceField(
                choices=_choices(obj.tax_types, "TaxType"), label=_("Xero tax type")
            )
        rates = formset.form.base_fields["tax_rate"]
        if obj is not None:
            rates.queryset = rates.queryset.filter(organiser=obj.organiser_id)
        return formset


@admin.register(XeroConnection)
class XeroConnectionAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = change_roles = delete_roles = _ROLES
    form = XeroConnectionForm
    change_form_template = "admin/xero/xeroconnection/change_form.html"
    inlines = [XeroTaxMappingInline]
    list_display = ("organiser", "status", "tenant_name", "last_push_at", "failures")
    readonly_fields = ("health",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organiser",)
        fields = ["health"]
        if obj.status == XeroConnection.Status.CHOOSING:
            fields.append("tenant")
        return fields + [
            "sales_account_code",
            "bills_account_code",
            "payment_account_code",
        ]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description=_("Failures in 24 h"))
    def failures(self, connection) -> int:
        since = timezone.now() - dt.timedelta(hours=24)
        return connection.documents.filter(
            state=XeroDocument.State.FAILED, updated_at__gte=since
        ).count()

    @admin.display(description=_("Health"))
    def health(self, connection):
        waiting = OutboxMessage.objects.filter(
            kind=PUSH_KIND,
            organiser_id=connection.organiser_id,
            status=OutboxMessage.Status.PENDING,
        ).count()
        rows = [
            (_("Status"), connection.get_status_display()),
            (_("Organisation"), connection.tenant_name or "—"),
            (_("Last push"), connection.last_push_at or "—"),
            (_("Failures in 24 h"), self.failures(connection)),
            (_("Pushes waiting"), waiting),
            (_("Last reconcile"), connection.last_reconciled_at or "—"),
            (
                _("Calls left today (Xero)"),
                "—" if connection.day_calls_left is None else connection.day_calls_left,
            ),
            (_("Last error"), connection.last_error or "—"),
        ]
        cells = format_html(
            "".join("<tr><th>{}</th><td>{}</td></tr>" for _row in rows),
            *[value for row in rows for value in row],
        )
        return format_html('<table class="xero-health">{}</table>', cells)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        tenant = form.cleaned_data.get("tenant")
        if tenant and obj.status == XeroConnection.Status.CHOOSING:
            try:
                connect.tenant_choose(
                    connection_id=obj.pk, tenant_id=tenant, actor=request.user
                )
            except XeroConnectError as error:
                self.message_user(request, error.message, messages.ERROR)

    # -- connect, callback, disconnect, read choices again --------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "callback/",
                wrap(self.callback_view),
                name="xero_xeroconnection_callback",
            ),
            path(
                "<int:pk>/connect/",
                wrap(self.connect_view),
                name="xero_xeroconnection_connect",
            ),
            path(
                "<int:pk>/disconnect/",
                wrap(self.disconnect_view),
                name="xero_xeroconnection_disconnect",
            ),
            path(
                "<int:pk>/refresh/",
                wrap(self.refresh_view),
                name="xero_xeroconnection_refresh",
            ),
        ] + super().get_urls()

    def _connection(self, request, pk: int) -> XeroConnection:
        connection = get_object_or_404(self.get_queryset(request), pk=pk)
        self.check_organiser(request, connection, self.change_roles)
        return connection

    def _back(self, connection) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:xero_xeroconnection_change", args=[connection.pk])
        )

    def connect_view(self, request, pk: int):
        connection = self._connection(request, pk)
        url = connect.connect_start(
            organiser=connection.organiser,
            redirect_uri=callback_uri(request),
            actor=request.user,
        )
        return HttpResponseRedirect(url)

    def callback_view(self, request):
        try:
            connection = connect.connect_finish(
                state=request.GET.get("state", ""),
                code=request.GET.get("code", ""),
                redirect_uri=callback_uri(request),
                actor=request.user,
            )
        except XeroConnectError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:xero_xeroconnection_changelist"))
        self.check_organiser(request, connection, self.change_roles)
        if connection.status == XeroConnection.Status.CHOOSING:
            self.message_user(request, _("Choose the Xero organisation to use."))
        else:
            self.message_user(
                request, _("Connected to %(name)s.") % {"name": connection.tenant_name}
            )
        return self._back(connection)

    def disconnect_view(self, request, pk: int):
        connection = self._connection(request, pk)
        if request.method == "POST":
            connect.disconnect(connection_id=connection.pk, actor=request.user)
            self.message_user(request, _("Disconnected from Xero."))
            return self._back(connection)
        return TemplateResponse(
            request,
            "admin/xero/xeroconnection/disconnect.html",
            {
                **self.admin_site.each_context(request),
                "connection": connection,
                "opts": self.model._meta,
                "title": _("Disconnect Xero"),
            },
        )

    def refresh_view(self, request, pk: int):
        connection = self._connection(request, pk)
        try:
            connect.choices_refresh(connection_id=connection.pk)
        except XeroConnectError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, _("Read Xero's tax rates and accounts."))
        return self._back(connection)


class XeroDocumentInline(OrganiserScopedInline, admin.StackedInline):
    model = XeroDocument
    organiser_path = "invoice__organiser"
    can_delete = False
    extra = 0
    verbose_name = verbose_name_plural = _("In Xero")
    fields = (
        "state",
        "xero_id",
        "xero_type",
        "xero_status",
        "attempts",
        "last_error",
        "pushed_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj):
        return False


class XeroInvoiceAdmin(InvoiceAdmin):
    """The invoice admin of `invoicing`, with its state in Xero."""

    inlines = [*InvoiceAdmin.inlines, XeroDocumentInline]
    actions = [*InvoiceAdmin.actions, "push_to_xero"]

    @admin.action(description=_("Push to Xero again"))
    def push_to_xero(self, request, queryset):
        for invoice in queryset:
            self.check_organiser(request, invoice, self.change_roles)
        count = push_again(invoice_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, _("%(n)d document(s) queued for Xero.") % {"n": count}
        )


admin.site.unregister(Invoice)
admin.site.register(Invoice, XeroInvoiceAdmin)
