"""A booking after its hold: confirmation, cancellation, refund.

Each takes the same locks as a hold (session, then ticket types, then the booking), so a
confirmation and a new buyer never both count the same seat.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Session
from ticketing import metrics
from ticketing.audit import audit_log

from .. import signals
from ..availability import compute_session_availability
from ..discounts import discount_code_check_uses, discount_code_lock
from ..exceptions import DiscountCodeUsedUp, InvalidTransition, SoldOut
from ..locks import (
    busy_on_lock_timeout,
    session_for_update,
    ticket_types_for_share,
)
from ..models import Booking, BookingLine
from ..tickets.rows import tickets_issue_rows, tickets_void_rows
from ._common import after_commit, status_changed


def _locked_booking(booking_id: int) -> tuple[Session, Booking]:
    """Take the selling locks of a booking: session, ticket types, booking row."""
    session_id = Booking.objects.values_list("session_id", flat=True).get(pk=booking_id)
    session = session_for_update(session_id)
    line_types = BookingLine.objects.filter(booking_id=booking_id).values_list(
        "ticket_type_id", flat=True
    )
    ticket_types_for_share(line_types)
    booking = Booking.objects.select_for_update(of=("self",)).get(pk=booking_id)
    return session, booking


def booking_confirm(*, booking_id: int, actor=None) -> Booking:
    """Turn a hold into a sale (payments call this). Idempotent: a confirmed booking is
    returned as it is.

    An unexpired hold moves its seats from held to sold. A hold that has expired (late
    payment) re-takes its seats if they are still free, and its discount code's use
    if the code has one left; if not, the booking is flagged `needs_attention` for
    the organiser and SoldOut (or DiscountCodeUsedUp) is raised, and the payment is
    given back by the caller. Cancelled and refunded bookings are refused with
    InvalidTransition.
    """
    sold_out: SoldOut | DiscountCodeUsedUp | None = None
    with busy_on_lock_timeout(), transaction.atomic(durable=True):
        session, booking = _locked_booking(booking_id)
        now = timezone.now()
        if booking.status == Booking.Status.CONFIRMED:
            return booking
        if booking.status not in (Booking.Status.PENDING, Booking.Status.EXPIRED):
            raise InvalidTransition(
                _("A %(status)s booking cannot be confirmed.")
                % {"status": booking.get_status_display().lower()}
            )
        was_late = not booking.is_holding
        if was_late:
            lines = list(booking.lines.select_related("ticket_type"))
            ticket_types = {line.ticket_type_id: line.ticket_type for line in lines}
            availability = compute_session_availability(
                session, ticket_types.values(), now
            )
            if availability.available < booking.quantity or any(
                availability.for_ticket_type(line.ticket_type_id) < line.quantity
                for line in lines
            ):
                _flag_late_payment(
                    booking,
                    "bookings.booking.late_payment_sold_out",
                    actor,
                    available=availability.available,
                )
                sold_out = SoldOut(
                    session_available=availability.available, ticket_types_available={}
                )
        if was_late and sold_out is None and booking.discount_code_id is not None:
            sold_out = _late_code_used_up(booking, now, actor)
        if sold_out is None:
            booking.status = Booking.Status.CONFIRMED
            booking.confirmed_at = now
            booking.expires_at = None
            booking.save(update_fields=["status", "confirmed_at", "expires_at"])
            tickets_issue_rows(booking)
            Session.objects.filter(pk=session.pk).update(
                sold_count=F("sold_count") + booking.quantity
            )
            audit_log(
                action="bookings.booking.confirmed",
                obj=booking,
                organiser_id=booking.organiser_id,
                actor=actor,
                data={"reference": booking.reference, "late": was_late},
            )
            after_commit(session.pk, booking.pk)
            transaction.on_commit(
                lambda: metrics.sale_counted(booking.channel, booking.quantity)
            )
    if sold_out is not None:
        raise sold_out
    return booking


def _late_code_used_up(booking: Booking, now, actor) -> DiscountCodeUsedUp | None:
    """A late booking's code use: its hold gave the use back when it expired, and
    another buyer may have taken it since. The code is locked last, as a sale locks
    it (after the session and ticket types), and its uses counted without this
    booking; a code with none left flags the booking as a sold-out seat does."""
    code = discount_code_lock(booking.discount_code_id)
    try:
        discount_code_check_uses(
            code, email=booking.buyer_email, now=now, excluding=booking.pk
        )
    except DiscountCodeUsedUp as used_up:
        _flag_late_payment(
            booking, "bookings.booking.late_payment_code_used_up", actor, code=code.code
        )
        return used_up
    return None


def _flag_late_payment(booking: Booking, action: str, actor, **data) -> None:
    """A late payment that cannot become a sale: flagged for the organiser, with why
    in the audit trail."""
    booking.needs_attention = True
    booking.save(update_fields=["needs_attention"])
    audit_log(
        action=action,
        obj=booking,
        organiser_id=booking.organiser_id,
        actor=actor,
        data={"reference": booking.reference, **data},
    )


def booking_hold_extend(
    *,
    booking_id: int,
    until,
    actor=None,
    reason: str = "",
    notice: str | None = None,
) -> Booking:
    """Keep a hold's seats until `until` (a buyer paying by bank transfer gets days,
    not minutes). Never shortens a hold. Takes the selling locks, so it cannot race a
    confirmation or the expiry; a hold that has already expired is refused with
    InvalidTransition (its seats may be sold: extending it would take them back
    unchecked). With `notice` (a notification template name), the buyer's message
    is queued in the same transaction, once per booking.
    """
    with busy_on_lock_timeout(), transaction.atomic(durable=True):
        session, booking = _locked_booking(booking_id)
        if not booking.is_holding:
            raise InvalidTransition(_("This booking is not waiting for payment."))
        previous = booking.expires_at
        if until > previous:
            booking.expires_at = until
            booking.save(update_fields=["expires_at"])
            audit_log(
                action="bookings.booking.hold_extended",
                obj=booking,
                organiser_id=booking.organiser_id,
                actor=actor,
                data={
                    "reference": booking.reference,
                    "from": previous.isoformat(),
                    "to": until.isoformat(),
                    "reason": reason,
                },
            )
            after_commit(session.pk)
        if notice:
            signals.buyer_message_requested.send(
                sender=Booking, booking=booking, template=notice, once=True
            )
    return booking


def _release(
    *,
    booking_id: int,
    to_status: str,
    timestamp_field: str,
    action: str,
    actor,
    reason: str,
    allowed: tuple[str, ...],
    idempotent: bool = False,
    notice: str | None = None,
) -> Booking:
    with busy_on_lock_timeout(), transaction.atomic(durable=True):
        session, booking = _locked_booking(booking_id)
        if idempotent and booking.status == to_status:
            return booking
        if booking.status not in allowed:
            raise InvalidTransition(
                _("This booking is %(status)s and cannot change that way.")
                % {"status": booking.get_status_display().lower()}
            )
        previous = booking.status
        booking.status = to_status
        setattr(booking, timestamp_field, timezone.now())
        booking.save(update_fields=["status", timestamp_field])
        if previous == Booking.Status.CONFIRMED:
            tickets_void_rows(booking.pk)
            Session.objects.filter(pk=session.pk).update(
                sold_count=F("sold_count") - booking.quantity
            )
        audit_log(
            action=action,
            obj=booking,
            organiser_id=booking.organiser_id,
            actor=actor,
            data={
                "reference": booking.reference,
                "from": previous,
                "to": to_status,
                "reason": reason,
            },
        )
        if notice:
            # In this transaction: the message goes if and only if the seats did.
            signals.buyer_message_requested.send(
                sender=Booking, booking=booking, template=notice, once=True
            )
        after_commit(session.pk)
        status_changed(booking.pk, to_status, previous)
        transaction.on_commit(
            lambda: signals.booking_released.send(
                sender=Booking, booking_id=booking.pk, status=to_status
            )
        )
    return booking


def booking_cancel(*, booking_id: int, actor=None, reason: str = "") -> Booking:
    """Cancel a pending or confirmed booking; its seats return. Cancelling a booking
    that is already cancelled, expired or refunded raises InvalidTransition."""
    return _release(
        booking_id=booking_id,
        to_status=Booking.Status.CANCELLED,
        timestamp_field="cancelled_at",
        action="bookings.booking.cancelled",
        actor=actor,
        reason=reason,
        allowed=(Booking.Status.PENDING, Booking.Status.CONFIRMED),
    )


def booking_mark_refunded(*, booking_id: int, actor=None, reason: str = "") -> Booking:
    """Record a full refund of a confirmed booking; its seats return. Idempotent."""
    return _release(
        booking_id=booking_id,
        to_status=Booking.Status.REFUNDED,
        timestamp_field="refunded_at",
        action="bookings.booking.refunded",
        actor=actor,
        reason=reason,
        allowed=(Booking.Status.CONFIRMED,),
        idempotent=True,
    )


def booking_release_unpaid(
    *, booking_id: int, actor=None, reason: str = "", notice: str | None = None
) -> Booking:
    """Give an unpaid hold's seats back at once because its payment failed: the
    booking becomes CANCELLED under the selling locks, as a buyer's cancel does, and
    `notice` (a Notification template) is queued in the same transaction. Only a
    PENDING booking moves; any other raises InvalidTransition (a confirmed booking
    keeps its seats, an expired one has already given them back)."""
    return _release(
        booking_id=booking_id,
        to_status=Booking.Status.CANCELLED,
        timestamp_field="cancelled_at",
        action="bookings.booking.released_unpaid",
        actor=actor,
        reason=reason,
        allowed=(Booking.Status.PENDING,),
        notice=notice,
    )
