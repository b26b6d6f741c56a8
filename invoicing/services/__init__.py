"""Every write to invoicing. Each public function owns its transaction."""

from .deposits import invoice_deposit_issue, settlement_amount, settlement_bill_issue
from .documents import (
    LineInput,
    Recipient,
    invoice_create,
    invoice_credit,
    invoice_draft_save,
    invoice_issue,
    invoice_lines_replace,
    invoice_payment_record,
    invoice_void,
)
from .numbering import number_take

__all__ = [
    "LineInput",
    "Recipient",
    "invoice_create",
    "invoice_credit",
    "invoice_deposit_issue",
    "invoice_draft_save",
    "invoice_issue",
    "invoice_lines_replace",
    "invoice_payment_record",
    "invoice_void",
    "number_take",
    "settlement_amount",
    "settlement_bill_issue",
]
