"""Refunding a booking as an organiser thinks of it: everything, some tickets, or an
amount, with a reason. Split over the booking's paid payments (latest first) and
asked of each provider through `refund_issue`, which guards against refunding more
than was paid and writes the audit rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from bookings.models import Booking, Ticket
from ticketing.audit import audit_log
from ticketing.lib.money import money_display

from ..exceptions import RefundNotPossible
from ..models import Payment, Refund
from .refunds import refund_issue

REFUNDABLE = (Payment.Status.SUCCEEDED, Payment.Status.MISMATCH)


@dataclass(frozen=True)
class PaymentShare:
    payment: Payment
    left_minor: int


def booking_refundable(booking_id: int) -> list[PaymentShare]:
    """The booking's paid payments with what is left to refund on each (refunds
    asked for and not failed count as refunded), latest first."""
    payments = Payment.objects.filter(
        booking_id=booking_id, status__in=REFUNDABLE
    ).order_by("-created_at", "-id")
    shares = []
    for payment in payments:
        asked = (
            payment.refunds.exclude(status=Refund.Status.FAILED).aggregate(
                total=Sum("amount_minor")
            )["total"]
            or 0
        )
        if payment.amount_minor - asked > 0:
            shares.append(PaymentShare(payment, payment.amount_minor - asked))
    return shares


def tickets_refund_minor(booking: Booking, tickets: Collection[Ticket]) -> int:
    """What `tickets` cost: each line's total shared over its quantity (whole minor
    units; refunding every ticket of a line gives back exactly its total)."""
    lines = {line.ticket_type_id: line for line in booking.lines.all()}
    counts: dict[int, int] = {}
    for ticket in tickets:
        counts[ticket.ticket_type_id] = counts.get(ticket.ticket_type_id, 0) + 1
    total = 0
    for ticket_type_id, count in counts.items():
        line = lines[ticket_type_id]
        total += line.total_minor * min(count, line.quantity) // line.quantity
    return total


def booking_refund(
    *,
    booking_id: int,
    amount_minor: int,
    reason: str,
    actor=None,
    ticket_ids: Collection[int] = (),
) -> list[Refund]:
    """Refund `amount_minor` of a booking over its paid payments; void `ticket_ids`
    (tickets refunded one by one: they no longer admit anyone; their seats stay
    sold). Raises RefundNotPossible above what is left to refund, or the error of
    the first payment whose provider refused (refunds already made stay made)."""
    booking = Booking.objects.get(pk=booking_id)
    shares = booking_refundable(booking_id)
    left = sum(share.left_minor for share in shares)
    if amount_minor <= 0 or amount_minor > left:
        raise RefundNotPossible(
            _("At most %(left)s can be refunded for this booking.")
            % {"left": money_display(left, booking.currency)}
        )
    refunds = []
    remaining = amount_minor
    for share in shares:
        if remaining <= 0:
            break
        part = min(share.left_minor, remaining)
        refunds.append(
            refund_issue(
                payment_id=share.payment.pk,
                amount_minor=part,
                reason=reason,
                actor=actor,
            )
        )
        remaining -= part
    if ticket_ids:
        _void_tickets(booking, ticket_ids, actor, reason)
    return refunds


def _void_tickets(booking: Booking, ticket_ids, actor, reason: str) -> None:
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update()
            .filter(booking=booking, pk__in=ticket_ids)
            .exclude(status=Ticket.Status.VOID)
        )
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
            status=Ticket.Status.VOID
        )
        if tickets:
            audit_log(
                action="bookings.ticket.voided",
                obj=booking,
                organiser_id=booking.organiser_id,
                actor=actor,
                data={"tickets": [t.code for t in tickets], "reason": reason},
            )


def refunds_total(refunds: list[Refund]) -> str:
    """ "€25.00": what `refunds` (of one booking, one currency) add up to."""
    if not refunds:
        return ""
    return money_display(sum(r.amount_minor for r in refunds), refunds[0].currency)
