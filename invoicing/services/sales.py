"""Invoices from ticket sales: one per confirmed paid booking, a credit note per
refund. Reached from `receivers.py` (booking confirmed, refund succeeded)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from bookings.models import Booking

from ..models import Invoice, InvoicePayment
from .documents import (
    LineInput,
    Recipient,
    _issue_locked,
    invoice_create,
    invoice_credit,
    invoice_payment_record,
)


def booking_invoice_get(booking_id: int) -> Invoice | None:
    return (
        Invoice.objects.filter(booking_id=booking_id, type=Invoice.Type.SALES)
        .exclude(status=Invoice.Status.VOID)
        .first()
    )


def booking_invoice_issue(*, booking_id: int) -> Invoice | None:
    """Issue (once) the paid sales invoice of a confirmed booking that cost
    something, to the company the buyer gave at checkout or else to the buyer, with
    the booking's lines and their tax exactly as priced. None for a free or
    unconfirmed booking. Safe to call twice or at once: the booking row lock and a
    unique constraint let one invoice through."""
    try:
        with transaction.atomic():
            booking = (
                Booking.objects.select_for_update(of=("self",))
                .select_related("event", "session", "organiser")
                .get(pk=booking_id)
            )
            if booking.status != Booking.Status.CONFIRMED or booking.total_minor <= 0:
                return None
            if existing := booking_invoice_get(booking_id):
                return existing
            invoice = _draft_from_booking(booking)
            _issue_locked(invoice, None, "system")
            invoice.due_on = invoice.issued_on
            invoice.save(update_fields=["due_on"])
            invoice_payment_record(
                invoice_id=invoice.pk,
                amount_minor=invoice.total_minor,
                received_on=(booking.confirmed_at or timezone.now()).date(),
                method=InvoicePayment.Method.CARD,
                reference=booking.reference,
                actor="system",
            )
    except IntegrityError:
        return booking_invoice_get(booking_id)
    invoice.refresh_from_db()
    return invoice


def _draft_from_booking(booking: Booking) -> Invoice:
    event = booking.event
    when = timezone.localtime(booking.session.starts_at, event.tzinfo)
    with override(booking.language):
        lines = [
            LineInput(
                description=f"{line.ticket_type.name} · {event.title} · "
                f"{when:%Y-%m-%d %H:%M}"
                + (
                    f" ({_('discount')} {line.discount_minor})"
                    if line.discount_minor
                    else ""
                ),
                unit_price_minor=line.unit_price_minor,
                quantity=line.quantity,
                tax_rate=line.tax_rate,
                fixed=(line.net_minor, line.tax_minor, line.total_minor),
                tax_name=line.tax_name,
                tax_percent=line.tax_percent,
                tax_code=line.tax_code,
            )
            for line in booking.lines.select_related("ticket_type", "tax_rate")
        ]
    recipient = Recipient(
        name=booking.billing_name or booking.buyer_name,
        address=booking.billing_address,
        email=booking.buyer_email,
        tax_id=booking.billing_tax_id,
    )
    return invoice_create(
        organiser=booking.organiser,
        type=Invoice.Type.SALES,
        recipient=recipient,
        currency=booking.currency,
        lines=lines,
        tax_treatment=Invoice.TaxTreatment.INCLUSIVE
        if booking.prices_include_tax
        else Invoice.TaxTreatment.EXCLUSIVE,
        language=booking.language,
        booking=booking,
        event=event,
        notes=booking.reference,
        actor="system",
    )


def booking_refund_credit(
    *, booking_id: int, amount_minor: int, refund_key: str
) -> Invoice | None:
    """The credit note of a refund of a booking's invoice (refunded money paid back).
    Once per `refund_key`; None when the booking has no invoice."""
    with transaction.atomic():
        invoice = booking_invoice_get(booking_id)
        if invoice is None:
            return None
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        existing = invoice.children.filter(
            type=Invoice.Type.CREDIT_NOTE, payments__reference=refund_key
        ).first()
        if existing:
            return existing
        left = invoice.total_minor - invoice.credited_minor
        if left <= 0:
            return None
        return invoice_credit(
            invoice_id=invoice.pk,
            amount_minor=min(amount_minor, left),
            reason=_("Refund"),
            refunded=True,
            refund_reference=refund_key,
            actor="system",
        )


def booking_invoice_attachment(booking: Booking) -> tuple[str, bytes] | None:
    """The invoice PDF for the confirmation email of a buyer who asked for one at
    checkout (issued here if the confirmation overtook the receiver)."""
    if not booking.invoice_requested:
        return None
    invoice = booking_invoice_issue(booking_id=booking.pk)
    if invoice is None:
        return None
    from ..pdf import invoice_pdf_filename, invoice_pdf_render

    return invoice_pdf_filename(invoice), invoice_pdf_render(invoice)
