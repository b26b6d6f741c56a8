"""Invoices in the back office: organiser members work on them; a performer's or
promoter's user reads, only, the documents addressed to their party."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
    RecipientScopedAdmin,
)
from ticketing.lib.money import Money

from . import services
from .exceptions import InvoiceError
from .models import Invoice, InvoiceLine, InvoicePayment, Party
from .pdf import invoice_pdf_filename, invoice_pdf_render


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
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


class InvoiceLineInline(OrganiserScopedInline, admin.TabularInline):
    model = InvoiceLine
    organiser_path = "invoice__organiser"
    extra = 0
    can_delete = False
    fields = (
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
    readonly_fields = fields

    def has_add_permission(self, request, obj):
        return False


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
    add_roles = ()  # written through services (from sales, deposits, settlements)
    change_roles = (OWNER, MANAGER)
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
    actions = ["issue", "record_payment", "send", "credit", "void"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Invoice._meta.fields]

    @admin.display(description=_("Status"), ordering="status")
    def status_shown(self, invoice):
        if invoice.is_overdue:
            return _("Overdue")
        return invoice.get_status_display()

    @admin.display(description=_("Total"), ordering="total_minor")
    def total(self, invoice):
        return Money(invoice.total_minor, invoice.currency).format()

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        url = reverse("admin:invoicing_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">PDF</a>', url)

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

    @admin.action(description=_("Void"))
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
