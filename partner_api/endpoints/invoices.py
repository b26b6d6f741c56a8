"""`GET /api/v1/bookings/{reference}/invoice/` (JSON) and `.../invoice/pdf/`: the sales
invoice of a booking of the key's organiser, and its credit notes. 404 when the
booking is another organiser's or has no invoice (free, or not confirmed yet).

Kept in its own module with one URL include so that the partner_api move can take
it as it is.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing.models import Invoice
from invoicing.pdf import invoice_pdf_filename, invoice_pdf_render
from invoicing.services.sales import booking_invoice_get
from partner_api.errors import ApiError
from partner_api.fields import money

from .bookings import organiser_booking
from .serializers import ErrorSerializer


class InvoiceLineOutput(serializers.Serializer):
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DictField()
    tax_name = serializers.CharField()
    tax_percent = serializers.CharField(allow_null=True)
    tax_code = serializers.CharField()
    account_code = serializers.CharField()
    net = serializers.DictField()
    tax = serializers.DictField()
    total = serializers.DictField()


class InvoiceOutput(serializers.Serializer):
    number = serializers.CharField()
    type = serializers.CharField(help_text="sales, bill, deposit or credit_note")
    status = serializers.CharField(help_text="issued, partly_paid, paid or void")
    issued_on = serializers.DateField()
    due_on = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    tax_treatment = serializers.CharField(help_text="inclusive, exclusive or no_tax")
    recipient = serializers.DictField()
    subtotal = serializers.DictField(help_text="Before tax")
    tax = serializers.DictField()
    total = serializers.DictField()
    paid = serializers.DictField()
    amount_due = serializers.DictField()
    lines = InvoiceLineOutput(many=True)
    credit_notes = serializers.ListField(child=serializers.DictField())
    pdf_url = serializers.URLField()


def invoice_output(invoice: Invoice, reference: str) -> dict:
    currency = invoice.currency

    def short(document: Invoice) -> dict:
        return {
            "number": document.display_number,
            "issued_on": document.issued_on.isoformat() if document.issued_on else None,
            "total": money(document.total_minor, currency),
            "tax": money(document.tax_minor, currency),
        }

    return {
        "number": invoice.display_number,
        "type": invoice.type,
        "status": invoice.status,
        "issued_on": invoice.issued_on.isoformat() if invoice.issued_on else None,
        "due_on": invoice.due_on.isoformat() if invoice.due_on else None,
        "currency": currency,
        "tax_treatment": invoice.tax_treatment,
        "recipient": {
            "name": invoice.recipient_name,
            "address": invoice.recipient_address,
            "email": invoice.recipient_email,
            "tax_id": invoice.recipient_tax_id,
        },
        "subtotal": money(invoice.subtotal_minor, currency),
        "tax": money(invoice.tax_minor, currency),
        "total": money(invoice.total_minor, currency),
        "paid": money(invoice.paid_minor, currency),
        "amount_due": money(invoice.amount_due_minor, currency),
        "lines": [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price_minor, currency),
                "tax_name": line.tax_name,
                "tax_percent": None
                if line.tax_percent is None
                else f"{line.tax_percent:.3f}",
                "tax_code": line.tax_code,
                "account_code": line.account_code,
                "net": money(line.net_minor, currency),
                "tax": money(line.tax_minor, currency),
                "total": money(line.total_minor, currency),
            }
            for line in invoice.lines.all()
        ],
        "credit_notes": [
            short(note)
            for note in invoice.children.filter(type=Invoice.Type.CREDIT_NOTE)
        ],
        "pdf_url": settings.SITE_URL
        + reverse("invoicing-api:booking-invoice-pdf", args=[reference]),
    }


def _invoice(request, reference: str) -> tuple[Invoice, str]:
    booking = organiser_booking(request, reference)
    invoice = booking_invoice_get(booking.pk)
    if invoice is None:
        raise ApiError(
            code="not_found",
            message="This booking has no invoice (yet).",
            status_code=404,
        )
    return invoice, booking.reference


class BookingInvoiceApi(APIView):
    """The sales invoice of a booking (issued when the booking is confirmed)."""

    required_scope = "read"

    @extend_schema(
        tags=["bookings"],
        operation_id="booking_invoice",
        responses={200: InvoiceOutput, 404: ErrorSerializer},
    )
    def get(self, request, reference: str):
        invoice, reference = _invoice(request, reference)
        return Response(invoice_output(invoice, reference))


class BookingInvoicePdfApi(APIView):
    """The invoice as a PDF."""

    required_scope = "read"

    @extend_schema(
        tags=["bookings"],
        operation_id="booking_invoice_pdf",
        responses={(200, "application/pdf"): bytes, 404: ErrorSerializer},
    )
    def get(self, request, reference: str):
        invoice, _reference = _invoice(request, reference)
        response = HttpResponse(invoice_pdf_render(invoice), "application/pdf")
        name = invoice_pdf_filename(invoice)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
