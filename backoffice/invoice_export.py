"""The invoice list of the back office as CSV or XLSX: exactly the rows the admin's
changelist shows for the same query (its filters, search and ordering, and its
scoping: an organiser's members get their organisers' documents, a performer's or
promoter's user only the documents addressed to their party)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.utils.translation import gettext as _

from invoicing.models import Invoice

from .exports import table_response
from .tables import MONEY, Column, Table

# Not changelist filters: stripped before the changelist reads the query.
EXPORT_PARAMS = ("format",)


def invoices_table(invoices) -> Table:
    rows = [
        {
            "number": invoice.display_number or _("draft"),
            "type": invoice.get_type_display(),
            "status": _("Overdue")
            if invoice.is_overdue
            else invoice.get_status_display(),
            "recipient": invoice.recipient_name,
            "issued_on": invoice.issued_on.isoformat() if invoice.issued_on else "",
            "due_on": invoice.due_on.isoformat() if invoice.due_on else "",
            "currency": invoice.currency,
            "net": invoice.subtotal_minor,
            "tax": invoice.tax_minor,
            "gross": invoice.total_minor,
            "paid": invoice.paid_minor,
            "balance": invoice.amount_due_minor,
        }
        for invoice in invoices
    ]
    return Table(
        title=_("Invoices"),
        columns=[
            Column("number", _("Number")),
            Column("type", _("Type")),
            Column("status", _("Status")),
            Column("recipient", _("Recipient")),
            Column("issued_on", _("Issued")),
            Column("due_on", _("Due")),
            Column("currency", _("Currency")),
            Column("net", _("Net"), MONEY),
            Column("tax", _("Tax"), MONEY),
            Column("gross", _("Gross"), MONEY),
            Column("paid", _("Paid"), MONEY),
            Column("balance", _("Balance"), MONEY),
        ],
        rows=rows,
    )


def invoice_list_export(request):
    """`/admin/reports/invoices/export/?format=csv|xlsx&<the changelist's query>`."""
    model_admin = admin.site.get_model_admin(Invoice)
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    fmt = request.GET.get("format", "csv")
    query = request.GET.copy()
    for name in EXPORT_PARAMS:
        query.pop(name, None)
    request.GET = query
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        return HttpResponseBadRequest(_("These filters do not apply to invoices."))
    return table_response(invoices_table(changelist.queryset), fmt, "invoices")
