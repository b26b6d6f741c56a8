"""Drafts for invoicing tests, written through the services."""

from decimal import Decimal

from events.models import TaxRate
from invoicing.models import Invoice
from invoicing.services import LineInput, Recipient, invoice_create


def gst(organiser, percent="10", name="GST") -> TaxRate:
    rate, _ = TaxRate.objects.get_or_create(
        organiser=organiser,
        name=name,
        defaults={"percent": Decimal(percent), "account_code": "OUTPUT"},
    )
    return rate


def draft(organiser, *, type=Invoice.Type.SALES, lines=None, **kwargs) -> Invoice:
    rate = gst(organiser)
    lines = lines or [
        LineInput("Comedy night: 2 tickets", 5500, quantity=2, tax_rate=rate),
        LineInput("Programme", 1000, tax_rate=rate, account_code="200"),
    ]
    return invoice_create(
        organiser=organiser,
        type=type,
        recipient=Recipient("Acme Pty Ltd", "1 George St, Sydney", "ap@acme.test"),
        currency=organiser.currency,
        lines=lines,
        **kwargs,
    )
