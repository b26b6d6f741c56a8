"""Deposits before the balance, and the performer's "deposit now, settlement after the
event" deal.

The main invoice (or bill) is a draft carrying its lines and deposit terms (an amount
or a percentage, a due date). `invoice_deposit_issue` issues a deposit invoice (a
child of the draft) for that share of every line, tax split at each line's rate. When
the main invoice is issued it becomes the balance: for each deposit paid, it gets
negative lines mirroring the deposit's, so the deposit's tax is not charged twice and
deposit + balance = the full amount, to the cent and per tax rate.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from ticketing.audit import audit_log

from ..exceptions import InvoiceError
from ..models import Invoice
from .documents import (
    LineInput,
    Recipient,
    _issue_locked,
    _write_lines,
    invoice_create,
    invoice_lines_replace,
    lines_share,
)

Status = Invoice.Status


def deposit_amount(invoice: Invoice) -> int:
    """The deposit the terms ask for, tax included, in minor units."""
    if invoice.deposit_minor is not None:
        return invoice.deposit_minor
    if invoice.deposit_percent is not None:
        exact = Decimal(invoice.total_minor) * invoice.deposit_percent / 100
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    raise InvoiceError(_("This invoice asks for no deposit."))


@transaction.atomic
def invoice_deposit_issue(
    *, invoice_id: int, issued_on: dt.date | None = None, actor=None
) -> Invoice:
    """Issue the deposit invoice of a draft with deposit terms, due on the terms'
    date. Raises InvoiceError when the draft asks for none, is issued already, or
    has an open deposit invoice."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != Status.DRAFT:
        raise InvoiceError(_("Deposits are asked before the balance is issued."))
    if invoice.children.filter(
        type=Invoice.Type.DEPOSIT, status__in=Invoice.OPEN_STATUSES
    ).exists():
        raise InvoiceError(_("A deposit invoice is already waiting for payment."))
    amount = deposit_amount(invoice)
    if not 0 < amount <= invoice.total_minor:
        raise InvoiceError(_("The deposit must be above zero and within the total."))
    lines = lines_share(
        [line for line in invoice.lines.all() if line.total_minor > 0],
        amount,
        _("Deposit"),
    )
    deposit = invoice_create(
        organiser=invoice.organiser,
        type=Invoice.Type.DEPOSIT,
        recipient=_recipient(invoice),
        currency=invoice.currency,
        lines=lines,
        party=invoice.party,
        tax_treatment=Invoice.TaxTreatment.INCLUSIVE,
        due_on=invoice.deposit_due_on,
        language=invoice.language,
        booking=invoice.booking,
        event=invoice.event,
        series=Invoice.DEFAULT_SERIES[invoice.type],
        parent=invoice,
        actor=actor,
    )
    _issue_locked(deposit, issued_on, actor)
    return deposit


def deposits_deduct(invoice: Invoice) -> None:
    """On issuing a balance (locked, still a draft): add a negative line per line of
    each paid deposit. Raises InvoiceError while a deposit is open."""
    deposits = list(
        invoice.children.filter(type=Invoice.Type.DEPOSIT)
        .exclude(status=Status.VOID)
        .prefetch_related("lines")
    )
    if not deposits:
        return
    if any(deposit.status != Status.PAID for deposit in deposits):
        raise InvoiceError(
            _("A deposit invoice is still open: record its payment or void it first.")
        )
    lines = []
    for deposit in deposits:
        lines += lines_share(
            list(deposit.lines.all()),
            deposit.total_minor,
            _("Less deposit %(n)s") % {"n": deposit},
            sign=-1,
        )
    existing = list(invoice.lines.all())
    _write_lines(invoice, lines)
    invoice.subtotal_minor += sum(line.net_minor for line in existing)
    invoice.tax_minor += sum(line.tax_minor for line in existing)
    invoice.total_minor += sum(line.total_minor for line in existing)
    invoice.deposits_deducted_minor = sum(deposit.total_minor for deposit in deposits)
    invoice.save(
        update_fields=[
            "subtotal_minor",
            "tax_minor",
            "total_minor",
            "deposits_deducted_minor",
        ]
    )


def _recipient(invoice: Invoice) -> Recipient:
    return Recipient(
        invoice.recipient_name,
        invoice.recipient_address,
        invoice.recipient_email,
        invoice.recipient_tax_id,
    )


def settlement_amount(
    *,
    net_sales_minor: int,
    share_percent: Decimal,
    guarantee_minor: int = 0,
    costs_minor: int = 0,
) -> int:
    """The performer's share of an event: `share_percent` of net sales after the
    deductible costs, and never below the guarantee (a "versus" deal). Half-up to
    a whole minor unit."""
    base = max(0, net_sales_minor - costs_minor)
    share = Decimal(base) * Decimal(share_percent) / 100
    return max(guarantee_minor, int(share.quantize(Decimal(1), ROUND_HALF_UP)))


@transaction.atomic
def settlement_bill_issue(
    *,
    bill_id: int,
    net_sales_minor: int,
    share_percent: Decimal,
    guarantee_minor: int = 0,
    costs_minor: int = 0,
    issued_on: dt.date | None = None,
    actor=None,
) -> Invoice:
    """After the event: set the deal bill (a draft bill whose deposit was issued)
    to the performer's share computed from the event's net sales (the back-office
    report's figures), and issue it as the balance, less the deposit paid."""
    bill = Invoice.objects.select_for_update().get(pk=bill_id)
    if bill.type != Invoice.Type.BILL or bill.status != Status.DRAFT:
        raise InvoiceError(_("Only a draft bill is settled."))
    amount = settlement_amount(
        net_sales_minor=net_sales_minor,
        share_percent=share_percent,
        guarantee_minor=guarantee_minor,
        costs_minor=costs_minor,
    )
    template = bill.lines.first()
    invoice_lines_replace(
        invoice_id=bill.pk,
        lines=[
            LineInput(
                description=_(
                    "Settlement: %(percent)s %% of net sales %(sales)s, guarantee "
                    "%(guarantee)s"
                )
                % {
                    "percent": share_percent,
                    "sales": net_sales_minor,
                    "guarantee": guarantee_minor,
                },
                unit_price_minor=amount,
                tax_rate=template.tax_rate if template else None,
                account_code=template.account_code if template else "",
            )
        ],
        actor=actor,
    )
    bill.refresh_from_db()
    deposits_deduct(bill)
    _issue_locked(bill, issued_on, actor)
    audit_log(
        action="invoicing.bill.settled",
        obj=bill,
        organiser_id=bill.organiser_id,
        actor=actor,
        data={
            "net_sales_minor": net_sales_minor,
            "share_percent": str(share_percent),
            "amount_minor": amount,
        },
    )
    return bill
