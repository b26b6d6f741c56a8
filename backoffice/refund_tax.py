"""What the refunds of a booking take back from each of its lines: money and tax,
split exactly as the credit notes of those refunds split them.

A refund's credit note (`invoicing.services.invoice_credit`) takes, of the booking's
invoice, the whole of every line when it credits everything at once, else the
refund shared among the lines with money in proportion to their totals (to the
cent, `allocate`) and split at each line's rate, tax included (`split_tax`). Doing
the same here, refund by refund, makes the sales report's tax equal to the tax on
the invoices less the tax on their credit notes.
"""

from __future__ import annotations

from bookings.pricing import split_tax
from invoicing.services.documents import allocate


def refunds_share(lines: list[dict], refunds: list[int]) -> None:
    """Set `refunds_minor` and `refunded_tax_minor` on each line (dicts with
    `total_minor`, `tax_minor`, `tax_percent`) of one booking, for its succeeded
    `refunds` (amounts, oldest first)."""
    for line in lines:
        line["refunds_minor"] = line["refunded_tax_minor"] = 0
    full = sum(line["total_minor"] for line in lines)
    credited = 0
    for amount in refunds:
        amount = min(amount, full - credited)
        if amount <= 0:
            continue
        if amount == full and credited == 0:
            for line in lines:
                line["refunds_minor"] += line["total_minor"]
                line["refunded_tax_minor"] += line["tax_minor"]
        else:
            paid = [line for line in lines if line["total_minor"] > 0]
            shares = allocate(amount, [line["total_minor"] for line in paid])
            for line, share in zip(paid, shares, strict=True):
                _, tax, _ = split_tax(
                    share, line["tax_percent"] or 0, prices_include_tax=True
                )
                line["refunds_minor"] += share
                line["refunded_tax_minor"] += tax
        credited += amount
