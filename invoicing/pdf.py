"""An invoice, bill or credit note as a PDF (WeasyPrint), in its language, with the
organiser's legal details."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML

from bookings.pricing import tax_summaries

from .models import Invoice

TEMPLATE = "invoicing/invoice_pdf.html"


def invoice_pdf_render(invoice: Invoice) -> bytes:
    lines = list(invoice.lines.all())
    with translation.override(invoice.language):
        html = render_to_string(
            TEMPLATE,
            {
                "invoice": invoice,
                "organiser": invoice.organiser,
                "lines": lines,
                "taxes": tax_summaries(lines),
                "credited": invoice.parent
                if invoice.type == Invoice.Type.CREDIT_NOTE
                else None,
            },
        )
        return HTML(string=html).write_pdf()


def invoice_pdf_filename(invoice: Invoice) -> str:
    number = invoice.display_number or f"draft-{invoice.pk}"
    return f"{invoice.type}-{number}.pdf".encode("ascii", "ignore").decode()
