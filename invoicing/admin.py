"""Invoices in the back office: organiser members work on them; a performer's or
promoter's user reads, only, the documents addressed to their party."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from events.models import Organiser
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    RecipientScopedAdmin,
    user_organiser_ids,
)
from ticketing.lib.money import money_display

from . import services
from .admin_forms import (
    DRAFT_FIELDS,
    InvoiceDraftForm,
    InvoiceLineForm,
    InvoiceLineFormSet,
)
from .exceptions import InvoiceError
from .models import Invoice, InvoiceLine, InvoicePayment, Party
from .pdf import invoice_pdf_filename, invoice_pdf_render


class OverdueFilter(admin.SimpleListFilter):
    title = _("due date")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = Invoice.objects.overdue().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=overdue)
        if self.value() == "no":
            return queryset.exclude(pk__in=overdue)
        return queryset


def _is_draft(invoice) -> bool:
    """A new document or a draft: editable. Issued ones are read-only."""
    return invoice is None or invoice.status == Invoice.Status.DRAFT


class InvoiceLineInline(OrganiserScopedInline, admin.TabularInline):
    model = InvoiceLine
    organiser_path = "invoice__organiser"
    form = InvoiceLineForm
    formset = InvoiceLineFormSet
    add_roles = change_roles = delete_roles = (OWNER, MANAGER)
    ISSUED_FIELDS = (
        "description",
        "quantity",
        "unit_price_minor",
        "tax_name",
        "tax_percent",
        "tax_code",
        "account_code",
        "net_minor",
        "tax_minor",
        "total_minor",
    )
    DRAFT_FIELDS = (
        "description",
        "quantity",
        "unit_price_minor",
        "tax_rate",
        "account_code",
        "net",
        "tax",
        "gross",
    )

    def get_fields(self, request, obj=None):
        return self.DRAFT_FIELDS if _is_draft(obj) else self.ISSUED_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return ("net", "tax", "gross") if _is_draft(obj) else self.ISSUED_FIELDS

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if _is_draft(obj) else 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")

    def has_add_permission(self, request, obj):
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _is_draft(obj) and super().has_delete_permission(request, obj)

    @admin.display(description=_("Net"))
    def net(self, line):
        return _money(line.net_minor, line)

    @admin.display(description=_("Tax"))
    def tax(self, line):
        return _money(line.tax_minor, line)

    @admin.display(description=_("Gross"))
    def gross(self, line):
        return _money(line.total_minor, line)


def _money(minor, line) -> str:
    if line.pk is None:
        return "–"  # computed when saved
    return money_display(minor, line.invoice.currency)


class InvoicePaymentInline(OrganiserScopedInline, admin.TabularInline):
    model = InvoicePayment
    organiser_path = "invoice__organiser"
    extra = 0
    can_delete = False
    fields = ("amount_minor", "currency", "received_on", "method", "reference")
    readonly_fields = fields

    def has_add_permission(self, request, obj):
        return False


@admin.register(Invoice)
class InvoiceAdmin(RecipientScopedAdmin, OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    recipient_user_path = "party__user"
    # Drafts are typed here too, saved through `services.invoice_draft_save`.
    add_roles = change_roles = (OWNER, MANAGER)
    delete_roles = ()
    list_display = (
        "__str__",
        "type",
        "status_shown",
        "recipient_name",
        "issued_on",
        "due_on",
        "total",
        "pdf_link",
    )
    list_filter = (
        "type",
        "status",
        OverdueFilter,
        ("issued_on", admin.DateFieldListFilter),
        "party",
        "organiser",
    )
    search_fields = ("recipient_name", "recipient_email", "booking__reference")
    date_hierarchy = "issued_on"
    list_select_related = ("organiser", "party")
    inlines = [InvoiceLineInline, InvoicePaymentInline]
    actions = ["issue", "issue_deposit", "record_payment", "send", "credit", "void"]
    form = InvoiceDraftForm
    DRAFT_SHOWN = ("status", "net_shown", "tax_shown", "total")

    def _editable(self, request, obj) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return _is_draft(obj) and self.has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        if self._editable(request, obj):
            return DRAFT_FIELDS + self.DRAFT_SHOWN
        return [field.name for field in Invoice._meta.fields if field.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        if self._editable(request, obj):
            return self.DRAFT_SHOWN
        return [field.name for field in Invoice._meta.fields]

    def get_inlines(self, request, obj):
        # Payments are recorded against issued documents (an action), never typed.
        return self.inlines if obj is not None else [InvoiceLineInline]

    @admin.display(description=_("Net"))
    def net_shown(self, invoice):
        return money_display(invoice.subtotal_minor, invoice.currency or "EUR")

    @admin.display(description=_("Tax"))
    def tax_shown(self, invoice):
        return money_display(invoice.tax_minor, invoice.currency or "EUR")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not self._editable(request, obj):
            kwargs["form"] = forms.ModelForm  # every field read-only
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organisers = Organiser.objects.filter(
            pk__in=user_organiser_ids(request, self.add_roles)
        )
        if len(organisers) == 1:
            initial.setdefault("currency", organisers[0].currency)
            initial.setdefault(
                "tax_treatment",
                Invoice.TaxTreatment.INCLUSIVE
                if organisers[0].prices_include_tax
                else Invoice.TaxTreatment.EXCLUSIVE,
            )
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        if invoice is not None and not _is_draft(invoice):
            # Issued: nothing to save here (the actions pay, credit or void it).
            extra_context = {
                **(extra_context or {}),
                "show_save": False,
                "show_save_and_continue": False,
                "show_save_and_add_another": False,
                "show_delete": False,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # Written with its lines in save_related, through the service.
        self.check_organiser(request, obj, self.change_roles)

    def save_related(self, request, form, formsets, change):
        [lines] = [formset for formset in formsets if formset.model is InvoiceLine]
        for formset in formsets:  # nothing saved through them: an empty history
            formset.new_objects, formset.changed_objects = [], []
            formset.deleted_objects = []
        try:
            self._draft_save(request, form.instance, lines)
        except InvoiceError as error:  # issued by someone else since the form loaded
            self.message_user(request, error.message, messages.ERROR)

    def _draft_save(self, request, invoice, lines) -> None:
        services.invoice_draft_save(
            invoice=invoice,
            lines=[
                services.LineInput(
                    description=data["description"],
                    unit_price_minor=data["unit_price_minor"],
                    quantity=data["quantity"],
                    tax_rate=data.get("tax_rate"),
                    account_code=data.get("account_code") or "",
                )
                for data in (line.cleaned_data for line in lines.forms)
                if data and not data.get("DELETE")
            ],
            actor=request.user,
        )

    @admin.display(description=_("Status"), ordering="status")
    def status_shown(self, invoice):
        if invoice.is_overdue:
            return _("Overdue")
        return invoice.get_status_display()

    @admin.display(description=_("Total"), ordering="total_minor")
    def total(self, invoice):
        return money_display(invoice.total_minor, invoice.currency)

    @admin.display(description=_("PDF"))
    def pdf_link(self, invoice):
        url = reverse("admin:invoicing_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, _("PDF"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.pdf_view)
        return [
            path("<int:pk>/pdf/", view, name="invoicing_invoice_pdf"),
        ] + super().get_urls()

    def pdf_view(self, request, pk: int):
        invoice = self.get_queryset(request).filter(pk=pk).first()
        if invoice is None:
            raise Http404
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        response = HttpResponse(invoice_pdf_render(invoice), "application/pdf")
        name = invoice_pdf_filename(invoice)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def _each(self, request, queryset, service, done):
        for invoice in queryset:
            self.check_organiser(request, invoice, self.change_roles)
            try:
                service(invoice)
            except InvoiceError as error:
                self.message_user(
                    request, f"{invoice}: {error.message}", messages.ERROR
                )
            else:
                self.message_user(request, f"{invoice}: {done}")

    @admin.action(description=_("Issue (number) the selected drafts"))
    def issue(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda inv: services.invoice_issue(invoice_id=inv.pk, actor=request.user),
            _("issued"),
        )

    @admin.action(description=_("Issue the deposit invoice of the selected drafts"))
    def issue_deposit(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda inv: services.invoice_deposit_issue(
                invoice_id=inv.pk, actor=request.user
            ),
            _("deposit invoice issued"),
        )

    @admin.action(description=_("Record full payment of what is due, today"))
    def record_payment(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda inv: services.invoice_payment_record(
                invoice_id=inv.pk, amount_minor=inv.amount_due_minor, actor=request.user
            ),
            _("payment recorded"),
        )

    @admin.action(description=_("Send by email"))
    def send(self, request, queryset):
        from .services.sending import invoice_send_queue

        self._each(
            request,
            queryset,
            lambda inv: invoice_send_queue(invoice_id=inv.pk, actor=request.user),
            _("queued for sending"),
        )

    @admin.action(description=_("Credit in full (credit note)"))
    def credit(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda inv: services.invoice_credit(invoice_id=inv.pk, actor=request.user),
            _("credited"),
        )

    # "Void" is also a status; the French catalogue needs the verb here.
    @admin.action(description=pgettext_lazy("admin action", "Void"))
    def void(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda inv: services.invoice_void(invoice_id=inv.pk, actor=request.user),
            _("voided"),
        )


@admin.register(Party)
class PartyAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    change_roles = (OWNER, MANAGER)
    add_roles = (OWNER, MANAGER)
    list_display = ("name", "kind", "email", "tax_id", "user", "organiser")
    list_filter = ("kind", "organiser")
    search_fields = ("name", "email", "tax_id")
