"""Our documents in Xero's words: invoices, credit notes, contacts, payments.

Pure functions from rows to the JSON Xero takes (no calls, no writes). A setting the
organiser still has to choose raises `XeroValidationError` with a message saying
which, like a refusal from Xero would: neither is worth retrying as is.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.utils.translation import gettext as _

from invoicing.models import Invoice, InvoiceLine
from ticketing.lib.money import currency_exponent

from .client import XeroValidationError
from .models import XeroConnection

Type = Invoice.Type

LINE_AMOUNT_TYPES = {
    Invoice.TaxTreatment.INCLUSIVE: "Inclusive",
    Invoice.TaxTreatment.EXCLUSIVE: "Exclusive",
    Invoice.TaxTreatment.NO_TAX: "NoTax",
}
# Xero's tax type for a line that carries no tax rate and no tax.
NO_TAX_TYPE = "NONE"


def amount(minor: int, currency: str) -> float:
    """Minor units as Xero's decimal major units. A float only at the JSON boundary
    (requests encodes no Decimal): two-decimal amounts under 10^13 round-trip
    exactly through a float's shortest repr."""
    return float(Decimal(minor).scaleb(-currency_exponent(currency)))


def minor(value, currency: str) -> int:
    """Xero's decimal major units (parsed as Decimal) as minor units."""
    return int(Decimal(str(value)).scaleb(currency_exponent(currency)))


def xero_type(invoice: Invoice) -> str:
    if invoice.type == Type.CREDIT_NOTE:
        parent = invoice.parent
        return "ACCPAYCREDIT" if parent and parent.type == Type.BILL else "ACCRECCREDIT"
    return "ACCPAY" if invoice.type == Type.BILL else "ACCREC"


def is_payable(invoice: Invoice) -> bool:
    """A bill, or a credit note against one: money we pay (Xero's ACCPAY side)."""
    return xero_type(invoice).startswith("ACCPAY")


def contact_number(invoice: Invoice) -> str:
    """Our own id for the contact, in Xero's ContactNumber (≤ 50 characters): the
    party, or the buyer's email (hashed: an email can be longer than 50)."""
    if invoice.party_id:
        return f"party-{invoice.party_id}"
    who = (invoice.recipient_email or invoice.recipient_name).strip().lower()
    return "buyer-" + hashlib.sha256(who.encode()).hexdigest()[:32]


def contact(invoice: Invoice) -> dict:
    party = invoice.party
    name = party.name if party else invoice.recipient_name
    email = party.email if party else invoice.recipient_email
    if not party and email:
        # Buyers' names are not unique, and Xero's contact names must be.
        name = f"{name} ({email})"
    address = (party.address if party else invoice.recipient_address).splitlines()
    body = {
        "Name": name[:255],
        "ContactNumber": contact_number(invoice),
        "EmailAddress": email,
        "TaxNumber": party.tax_id if party else invoice.recipient_tax_id,
        "IsSupplier": is_payable(invoice),
        "IsCustomer": not is_payable(invoice),
    }
    if address:
        body["Addresses"] = [
            {
                "AddressType": "POBOX",
                "AddressLine1": address[0][:500],
                "AddressLine2": ", ".join(address[1:])[:500],
            }
        ]
    return body


def _account_code(line: InvoiceLine, invoice: Invoice, connection) -> str:
    if line.account_code:
        return line.account_code
    code = (
        connection.bills_account_code
        if is_payable(invoice)
        else connection.sales_account_code
    )
    if not code:
        raise XeroValidationError(
            [
                _("Choose the Xero account for bill lines in the Xero settings.")
                if is_payable(invoice)
                else _("Choose the Xero account for sales lines in the Xero settings.")
            ]
        )
    return code


def _tax_type(line: InvoiceLine, tax_types: dict[int, str]) -> str:
    if line.tax_rate_id and line.tax_rate_id in tax_types:
        return tax_types[line.tax_rate_id]
    if line.tax_code:
        return line.tax_code
    if not line.tax_rate_id and not line.tax_minor:
        return NO_TAX_TYPE
    raise XeroValidationError(
        [
            _("Map the tax rate “%(name)s” to a Xero tax type in the Xero settings.")
            % {"name": line.tax_name or line.tax_rate_id}
        ]
    )


def lines(invoice: Invoice, connection: XeroConnection) -> list[dict]:
    tax_types = dict(connection.tax_mappings.values_list("tax_rate_id", "tax_type"))
    currency = invoice.currency
    no_tax = invoice.tax_treatment == Invoice.TaxTreatment.NO_TAX
    inclusive = invoice.tax_treatment == Invoice.TaxTreatment.INCLUSIVE
    result = []
    for line in invoice.lines.all():
        item = {
            "Description": line.description,
            "Quantity": line.quantity,
            "UnitAmount": amount(line.unit_price_minor, currency),
            "LineAmount": amount(
                line.total_minor if inclusive else line.net_minor, currency
            ),
            "AccountCode": _account_code(line, invoice, connection),
        }
        if not no_tax:
            item["TaxType"] = _tax_type(line, tax_types)
            # Our tax per line, so Xero keeps our rounding instead of its own.
            item["TaxAmount"] = amount(line.tax_minor, currency)
        result.append(item)
    return result


def document(invoice: Invoice, connection: XeroConnection, contact_id: str) -> dict:
    """An invoice, bill or credit note, AUTHORISED (ours are issued)."""
    body = {
        "Type": xero_type(invoice),
        "Contact": {"ContactID": contact_id},
        "Date": invoice.issued_on.isoformat(),
        "LineAmountTypes": LINE_AMOUNT_TYPES[invoice.tax_treatment],
        "CurrencyCode": invoice.currency,
        "Status": "AUTHORISED",
        "LineItems": lines(invoice, connection),
        "Reference": (
            invoice.booking.reference if invoice.booking_id else invoice.display_number
        ),
    }
    if invoice.type == Type.CREDIT_NOTE:
        body["CreditNoteNumber"] = invoice.display_number
    else:
        body["InvoiceNumber"] = invoice.display_number
        body["DueDate"] = (invoice.due_on or invoice.issued_on).isoformat()
    return body
