"""Writing invoices: drafts, issuing (numbered), payments received, credit notes, void.

A draft may be changed; `invoice_issue` numbers it under the sequence lock and from
then on it is never edited: payments are recorded against it and a credit note
(a document of its own, numbered in its own series) takes back all or part of it.
Every function owns its transaction and writes an audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.pricing import split_tax
from events.models import Organiser, TaxRate
from ticketing.audit import audit_log

from ..exceptions import InvoiceError, InvoiceNotEditable
from ..models import Invoice, InvoiceLine, InvoicePayment, Party
from .numbering import number_take

Status = Invoice.Status
Type = Invoice.Type


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    address: str = ""
    email: str = ""
    tax_id: str = ""

    @classmethod
    def of_party(cls, party: Party) -> Recipient:
        return cls(party.name, party.address, party.email, party.tax_id)


@dataclass(frozen=True, slots=True)
class LineInput:
    """One line. `fixed` = (net, tax, total) copies figures already computed (a
    booking's lines, a credit of lines) instead of computing them again."""

    description: str
    unit_price_minor: int
    quantity: int = 1
    tax_rate: TaxRate | None = None
    account_code: str = ""
    fixed: tuple[int, int, int] | None = None
    tax_name: str | None = None
    tax_percent: Decimal | None = None
    tax_code: str | None = None


def line_figures(line: LineInput, treatment: str) -> tuple[int, int, int]:
    """(net, tax, total) of a line: the pricing function's per-line rounding."""
    if line.fixed is not None:
        return line.fixed
    amount = line.unit_price_minor * line.quantity
    if treatment == Invoice.TaxTreatment.NO_TAX or line.tax_rate is None:
        return amount, 0, amount
    return split_tax(
        amount,
        line.tax_rate.effective_percent,
        prices_include_tax=treatment == Invoice.TaxTreatment.INCLUSIVE,
    )


def _write_lines(invoice: Invoice, lines: Sequence[LineInput]) -> None:
    rows = []
    start = invoice.lines.count()
    for position, line in enumerate(lines, start=start):
        net, tax, total = line_figures(line, invoice.tax_treatment)
        rate = line.tax_rate
        rows.append(
            InvoiceLine(
                invoice=invoice,
                description=line.description[:300],
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                tax_rate=rate,
                tax_name=line.tax_name
                if line.tax_name is not None
                else (rate.name if rate else ""),
                tax_percent=line.tax_percent
                if line.tax_percent is not None
                else (rate.effective_percent if rate else None),
                tax_code=line.tax_code
                if line.tax_code is not None
                else (rate.account_code if rate else ""),
                account_code=line.account_code,
                net_minor=net,
                tax_minor=tax,
                total_minor=total,
                position=position,
            )
        )
    InvoiceLine.objects.bulk_create(rows)
    invoice.subtotal_minor = sum(row.net_minor for row in rows)
    invoice.tax_minor = sum(row.tax_minor for row in rows)
    invoice.total_minor = sum(row.total_minor for row in rows)


@transaction.atomic
def invoice_create(
    *,
    organiser: Organiser,
    type: str,
    recipient: Recipient,
    currency: str,
    lines: Sequence[LineInput],
    party: Party | None = None,
    tax_treatment: str | None = None,
    due_on: dt.date | None = None,
    language: str = "en",
    booking=None,
    event=None,
    series: str | None = None,
    deposit_percent: Decimal | None = None,
    deposit_minor: int | None = None,
    deposit_due_on: dt.date | None = None,
    parent: Invoice | None = None,
    notes: str = "",
    actor=None,
) -> Invoice:
    """A draft with its lines and totals. `tax_treatment` defaults to the
    organiser's price mode."""
    if tax_treatment is None:
        tax_treatment = (
            Invoice.TaxTreatment.INCLUSIVE
            if organiser.prices_include_tax
            else Invoice.TaxTreatment.EXCLUSIVE
        )
    invoice = Invoice(
        organiser=organiser,
        type=type,
        series=series or Invoice.DEFAULT_SERIES[type],
        party=party,
        booking=booking,
        event=event,
        recipient_name=recipient.name,
        recipient_address=recipient.address,
        recipient_email=recipient.email,
        recipient_tax_id=recipient.tax_id,
        language=language if language in ("en", "fr") else "en",
        due_on=due_on,
        currency=currency,
        tax_treatment=tax_treatment,
        deposit_percent=deposit_percent,
        deposit_minor=deposit_minor,
        deposit_due_on=deposit_due_on,
        parent=parent,
        notes=notes,
    )
    invoice.full_clean(exclude=["organiser", "party", "booking", "event", "parent"])
    invoice.save()
    _write_lines(invoice, lines)
    invoice.save(update_fields=["subtotal_minor", "tax_minor", "total_minor"])
    audit_log(
        action="invoicing.invoice.drafted",
        obj=invoice,
        organiser_id=organiser.pk,
        actor=actor,
        data={"type": type, "total_minor": invoice.total_minor},
    )
    return invoice


@transaction.atomic
def invoice_lines_replace(
    *, invoice_id: int, lines: Sequence[LineInput], actor=None
) -> Invoice:
    """New lines for a draft. Raises InvoiceNotEditable once it is issued."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != Status.DRAFT:
        raise InvoiceNotEditable()
    invoice.lines.all().delete()
    _write_lines(invoice, lines)
    invoice.save(update_fields=["subtotal_minor", "tax_minor", "total_minor"])
    audit_log(
        action="invoicing.invoice.lines_replaced",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"total_minor": invoice.total_minor},
    )
    return invoice


# Filled in by the service, never typed in the back office's draft form.
_DRAFT_COMPUTED = ["organiser", "party", "booking", "event", "parent", "series"]


@transaction.atomic
def invoice_draft_save(
    *, invoice: Invoice, lines: Sequence[LineInput], actor=None
) -> Invoice:
    """Write a draft typed in the back office: a new one, or a draft's changed
    header, with these lines in place of the ones it had; totals recomputed. The
    series follows the type. Raises InvoiceNotEditable once it is issued."""
    adding = invoice.pk is None
    if not adding:
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.status != Status.DRAFT:
            raise InvoiceNotEditable()
    invoice.status = Status.DRAFT
    invoice.series = Invoice.DEFAULT_SERIES[invoice.type]
    invoice.full_clean(exclude=_DRAFT_COMPUTED)
    invoice.save()
    invoice.lines.all().delete()
    _write_lines(invoice, lines)
    invoice.save(update_fields=["subtotal_minor", "tax_minor", "total_minor"])
    audit_log(
        action="invoicing.invoice.drafted" if adding else "invoicing.invoice.changed",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"type": invoice.type, "total_minor": invoice.total_minor},
    )
    return invoice


def _issue_locked(invoice: Invoice, issued_on: dt.date | None, actor) -> None:
    invoice.number = number_take(
        organiser_id=invoice.organiser_id, series=invoice.series
    )
    invoice.issued_on = issued_on or timezone.localdate()
    invoice.status = Status.ISSUED
    _settle_status(invoice)
    invoice.save(
        update_fields=["number", "issued_on", "status", "updated_at"]
        + ["paid_minor", "credited_minor"]
    )
    audit_log(
        action="invoicing.invoice.issued",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"number": invoice.display_number, "total_minor": invoice.total_minor},
    )


@transaction.atomic
def invoice_issue(
    *, invoice_id: int, issued_on: dt.date | None = None, actor=None
) -> Invoice:
    """Number a draft (gapless, under the sequence row lock) and issue it. A balance
    invoice (one with deposit invoices) deducts the deposits paid, line by line, and
    refuses while a deposit is still open. Issuing an issued invoice is a no-op."""
    from .deposits import deposits_deduct

    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != Status.DRAFT:
        return invoice
    deposits_deduct(invoice)
    _issue_locked(invoice, issued_on, actor)
    return invoice


def _settle_status(invoice: Invoice) -> None:
    """Issued → partly paid → paid from the amounts; void stays void."""
    if invoice.status not in Invoice.OPEN_STATUSES:
        return
    due = invoice.total_minor - invoice.credited_minor - invoice.paid_minor
    if due <= 0 and invoice.total_minor > 0 and invoice.paid_minor == 0:
        invoice.status = Status.VOID  # credited in full before any payment
    elif due <= 0:
        invoice.status = Status.PAID
    elif invoice.paid_minor > 0:
        invoice.status = Status.PARTLY_PAID
    else:
        invoice.status = Status.ISSUED


@transaction.atomic
def invoice_payment_record(
    *,
    invoice_id: int,
    amount_minor: int,
    received_on: dt.date | None = None,
    method: str = InvoicePayment.Method.BANK_TRANSFER,
    reference: str = "",
    actor=None,
) -> InvoicePayment:
    """Money received against an issued invoice (or paid out on a credit note). At
    most the amount due; the status follows (partly paid, paid)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    due = invoice.amount_due_minor
    if invoice.status not in Invoice.OPEN_STATUSES or not 0 < amount_minor <= due:
        raise InvoiceError(
            _("At most %(due)d (minor units) is due on this invoice.") % {"due": due}
        )
    payment = InvoicePayment.objects.create(
        invoice=invoice,
        amount_minor=amount_minor,
        currency=invoice.currency,
        received_on=received_on or timezone.localdate(),
        method=method,
        reference=reference[:200],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    invoice.paid_minor += amount_minor
    _settle_status(invoice)
    invoice.save(update_fields=["paid_minor", "status", "updated_at"])
    audit_log(
        action="invoicing.invoice.payment_recorded",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"amount_minor": amount_minor, "method": method, "reference": reference},
    )
    return payment


def allocate(amount_minor: int, weights: Sequence[int]) -> list[int]:
    """`amount_minor` shared in proportion to `weights`, in whole minor units that
    sum exactly to it (largest remainder first)."""
    total = sum(weights)
    if total == 0:
        return [amount_minor] + [0] * (len(weights) - 1) if weights else []
    shares = [amount_minor * weight // total for weight in weights]
    remainders = sorted(
        range(len(weights)),
        key=lambda i: (amount_minor * weights[i] % total, -i),
        reverse=True,
    )
    for i in remainders[: amount_minor - sum(shares)]:
        shares[i] += 1
    return shares


def lines_share(
    lines: Sequence[InvoiceLine], amount_minor: int, description: str, sign: int = 1
) -> list[LineInput]:
    """Lines for `amount_minor` (tax included) of `lines`, split in proportion to
    their totals and, within each, between net and tax at the line's rate. A full
    share copies the lines' figures exactly."""
    full = sum(line.total_minor for line in lines)
    if amount_minor == full:
        shares = [(line.net_minor, line.tax_minor, line.total_minor) for line in lines]
    else:
        shares = []
        for line, gross in zip(
            lines,
            allocate(amount_minor, [line.total_minor for line in lines]),
            strict=True,
        ):
            shares.append(
                split_tax(gross, line.tax_percent or 0, prices_include_tax=True)
            )
    return [
        LineInput(
            description=f"{description}: {line.description}"[:300],
            unit_price_minor=sign * total,
            quantity=1,
            tax_rate=line.tax_rate,
            account_code=line.account_code,
            fixed=(sign * net, sign * tax, sign * total),
            tax_name=line.tax_name,
            tax_percent=line.tax_percent,
            tax_code=line.tax_code,
        )
        for line, (net, tax, total) in zip(lines, shares, strict=True)
        if total
    ]


@transaction.atomic
def invoice_credit(
    *,
    invoice_id: int,
    amount_minor: int | None = None,
    reason: str = "",
    refunded: bool = False,
    refund_reference: str = "",
    actor=None,
) -> Invoice:
    """Issue a credit note for `amount_minor` (default: all not credited yet) of an
    issued invoice. What it takes off an open balance settles it; the rest is owed
    back to the recipient, or, with `refunded`, recorded as paid back. Raises
    InvoiceError for a draft, a void invoice or more than is left to credit."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if (
        invoice.status in (Status.DRAFT, Status.VOID)
        or invoice.type == Type.CREDIT_NOTE
    ):
        raise InvoiceError(_("Only an issued invoice can be credited."))
    left = invoice.total_minor - invoice.credited_minor
    amount = left if amount_minor is None else amount_minor
    if not 0 < amount <= left:
        raise InvoiceError(
            _("At most %(left)d (minor units) can be credited.") % {"left": left}
        )
    original_lines = [line for line in invoice.lines.all() if line.total_minor > 0]
    if amount == left and invoice.credited_minor == 0:
        lines = lines_share(
            list(invoice.lines.all()), amount, _("Credit of %(n)s") % {"n": invoice}
        )
    else:
        lines = lines_share(
            original_lines, amount, _("Credit of %(n)s") % {"n": invoice}
        )
    note = invoice_create(
        organiser=invoice.organiser,
        type=Type.CREDIT_NOTE,
        recipient=Recipient(
            invoice.recipient_name,
            invoice.recipient_address,
            invoice.recipient_email,
            invoice.recipient_tax_id,
        ),
        currency=invoice.currency,
        lines=lines,
        party=invoice.party,
        tax_treatment=Invoice.TaxTreatment.INCLUSIVE,
        language=invoice.language,
        booking=invoice.booking,
        event=invoice.event,
        parent=invoice,
        notes=reason,
        actor=actor,
    )
    _issue_locked(note, None, actor)
    applied = min(amount, invoice.amount_due_minor)
    invoice.credited_minor += amount
    _settle_status(invoice)
    invoice.save(update_fields=["credited_minor", "status", "updated_at"])
    # The note is settled by what it took off the balance and by any refund.
    settled = applied + (amount - applied if refunded else 0)
    if settled:
        note.paid_minor = settled
        _settle_status(note)
        note.save(update_fields=["paid_minor", "status", "updated_at"])
        if refunded and amount - applied:
            InvoicePayment.objects.create(
                invoice=note,
                amount_minor=amount - applied,
                currency=note.currency,
                received_on=timezone.localdate(),
                method=InvoicePayment.Method.CARD,
                reference=refund_reference[:200] or "refund",
            )
    audit_log(
        action="invoicing.invoice.credited",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"credit_note": note.display_number, "amount_minor": amount},
    )
    return note


@transaction.atomic
def invoice_void(*, invoice_id: int, reason: str = "", actor=None) -> Invoice:
    """Void a draft (it never had a number), or an issued invoice with nothing paid
    on it: a credit note for the whole of it. A paid invoice is credited instead."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status == Status.VOID:
        return invoice
    if invoice.status == Status.DRAFT:
        invoice.status = Status.VOID
        invoice.save(update_fields=["status", "updated_at"])
        audit_log(
            action="invoicing.invoice.voided",
            obj=invoice,
            organiser_id=invoice.organiser_id,
            actor=actor,
            data={"reason": reason},
        )
        return invoice
    if invoice.paid_minor or invoice.type == Type.CREDIT_NOTE:
        raise InvoiceError(
            _("Money was received on this invoice: credit it (refund) instead.")
        )
    invoice_credit(invoice_id=invoice.pk, reason=reason or _("Void"), actor=actor)
    invoice.refresh_from_db()
    invoice.status = Status.VOID
    invoice.save(update_fields=["status", "updated_at"])
    audit_log(
        action="invoicing.invoice.voided",
        obj=invoice,
        organiser_id=invoice.organiser_id,
        actor=actor,
        data={"reason": reason},
    )
    return invoice
