"""Drafts for invoicing tests, written through the services."""

from decimal import Decimal

from events.models import TaxRate
from invoicing.models import Invoice
from invoicing.services import LineInput, Recipient, invoice_create, invoice_issue


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


def bill(party, amount, *, description="Fee", tax_rate=None, issue=True, **kwargs):
    """A bill to `party` with one line, issued unless told otherwise."""
    document = invoice_create(
        organiser=party.organiser,
        type=Invoice.Type.BILL,
        recipient=Recipient.of_party(party),
        party=party,
        currency="EUR",
        lines=[LineInput(description, amount, tax_rate=tax_rate)],
        **kwargs,
    )
    return invoice_issue(invoice_id=document.pk) if issue else document
