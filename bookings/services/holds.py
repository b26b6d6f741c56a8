"""Holding seats: creating a booking under the session lock."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, Session, TicketType
from ticketing.audit import audit_log

from ..availability import compute_session_availability
from ..exceptions import BasketInvalid, NotOnSale, PriceChanged, SoldOut
from ..locks import (
    busy_on_lock_timeout,
    session_for_update,
    set_lock_timeout,
    ticket_types_for_share,
)
from ..models import Attendee, Booking, BookingLine
from ..pricing import PriceQuote, price_basket
from ._common import after_commit

logger = logging.getLogger(__name__)

# No 0/O or 1/I: references are read aloud and typed from paper tickets.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6
_REFERENCE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class LineInput:
    ticket_type_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class AttendeeInput:
    name: str
    email: str = ""


@dataclass(frozen=True, slots=True)
class BuyerInput:
    name: str
    email: str
    phone: str = ""


def booking_reference_new(prefix: str) -> str:
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"{prefix}-{code}"


def _validate_people(
    buyer: BuyerInput, attendees: Sequence[AttendeeInput], quantity: int
) -> None:
    errors: dict[str, list[str]] = {}
    if not buyer.name.strip():
        errors["buyer.name"] = [_("Enter the buyer's name.")]
    try:
        validate_email(buyer.email)
    except ValidationError:
        errors["buyer.email"] = [_("Enter a valid email address.")]
    if len(attendees) != quantity:
        errors["attendees"] = [
            _("Give one attendee per ticket: %(n)d expected.") % {"n": quantity}
        ]
    for index, attendee in enumerate(attendees):
        if not attendee.name.strip():
            errors[f"attendees.{index}.name"] = [_("Enter this attendee's name.")]
        if attendee.email:
            try:
                validate_email(attendee.email)
            except ValidationError:
                errors[f"attendees.{index}.email"] = [_("Enter a valid email address.")]
    if errors:
        raise BasketInvalid(errors)


def _check_on_sale(session: Session, now: dt.datetime) -> None:
    event: Event = session.event
    if event.status != Event.Status.PUBLISHED:
        raise NotOnSale(_("This event is not on sale."))
    if session.sale_status != Session.SaleStatus.ON_SALE:
        raise NotOnSale()
    if session.ends_at <= now:
        raise NotOnSale(_("This session is over."))
    if event.sales_start_at and now < event.sales_start_at:
        raise NotOnSale(_("Sales have not started yet."))
    if event.sales_end_at and now >= event.sales_end_at:
        raise NotOnSale(_("Sales have ended."))


def _ensure_seats(
    session: Session, ticket_types, quote: PriceQuote, now: dt.datetime, booking_id: int
) -> None:
    """Raise SoldOut unless every line of booking `booking_id` fits, in its allocation
    and in the session, besides every other sale and hold."""
    availability = compute_session_availability(
        session, ticket_types.values(), now, exclude_booking_id=booking_id
    )
    short = availability.available < quote.quantity or any(
        availability.for_ticket_type(line.ticket_type_id) < line.quantity
        for line in quote.lines
    )
    if short:
        raise SoldOut(
            session_available=availability.available,
            ticket_types_available={
                tt_id: entry.available
                for tt_id, entry in availability.ticket_types.items()
            },
        )


def _existing_for_key(organiser_id: int, idempotency_key: str | None) -> Booking | None:
    if not idempotency_key:
        return None
    return Booking.objects.filter(
        organiser_id=organiser_id, idempotency_key=idempotency_key
    ).first()


def booking_create(
    *,
    session_id: int,
    lines: Sequence[LineInput],
    buyer: BuyerInput,
    attendees: Sequence[AttendeeInput],
    channel: str = Booking.Channel.WEB,
    idempotency_key: str | None = None,
    actor=None,
) -> Booking:
    """Hold seats: a PENDING booking expiring after BOOKING_HOLD_MINUTES, or CONFIRMED
    at once when the total is zero.

    Locks the session, then the ticket types by id; checks sale status, windows and
    availability under the lock. Attendees fill the lines in order. The same
    `idempotency_key` (per organiser) returns the first booking, not a second hold.
    Raises BasketInvalid, NotOnSale, SoldOut or InventoryBusy; writes nothing then.
    """
    quantity = sum(line.quantity for line in lines)
    _validate_people(buyer, attendees, quantity)
    try:
        session = Session.objects.select_related("event__organiser").get(pk=session_id)
    except Session.DoesNotExist:
        raise BasketInvalid({"session": [_("This session does not exist.")]}) from None
    organiser = session.event.organiser
    if existing := _existing_for_key(organiser.pk, idempotency_key):
        return existing

    for _attempt in range(_REFERENCE_ATTEMPTS):
        reference = booking_reference_new(organiser.reference_prefix)
        try:
            return _booking_insert(
                session=session,
                lines=lines,
                buyer=buyer,
                attendees=attendees,
                channel=channel,
                idempotency_key=idempotency_key,
                actor=actor,
                reference=reference,
            )
        except IntegrityError as error:
            # A same-key request for another session won the race: return its booking.
            if existing := _existing_for_key(organiser.pk, idempotency_key):
                return existing
            if "reference" not in str(error):
                raise
            logger.warning("Booking reference collision on %s, retrying", reference)
    raise RuntimeError("Could not draw a unique booking reference")


def _booking_insert(
    *, session, lines, buyer, attendees, channel, idempotency_key, actor, reference
) -> Booking:
    """Write the booking first, then decide under the lock, in one transaction.

    Nobody sees the new rows before commit, while the count made under the session lock
    sees them (a transaction sees its own writes), so they are excluded from it. When
    the seats are not there, the exception rolls the rows back. Writing before locking
    keeps the lock for three short queries and the commit instead of eight statements:
    how long the lock is held is what caps a hot session's sales per second.
    """
    with busy_on_lock_timeout(), transaction.atomic(durable=True):
        set_lock_timeout()
        now = timezone.now()
        ticket_type_ids = [line.ticket_type_id for line in lines]
        ticket_types = TicketType.objects.in_bulk(ticket_type_ids)
        _check_known(lines, ticket_types)
        _check_on_sale(session, now)
        quote = _quote(session, lines, ticket_types, now)
        booking = _write_booking(
            session=session,
            quote=quote,
            buyer=buyer,
            attendees=attendees,
            channel=channel,
            idempotency_key=idempotency_key,
            actor=actor,
            reference=reference,
            now=now,
        )

        locked_session = session_for_update(session.pk)
        locked_types = ticket_types_for_share(ticket_type_ids)
        _check_known(lines, locked_types)
        _check_on_sale(locked_session, now)
        if _quote(locked_session, lines, locked_types, now) != quote:
            raise PriceChanged()
        _ensure_seats(locked_session, locked_types, quote, now, booking.pk)
        if quote.is_free:
            Session.objects.filter(pk=session.pk).update(
                sold_count=F("sold_count") + quote.quantity
            )
        after_commit(session.pk, booking.pk if quote.is_free else None)
    return booking


def _check_known(lines, ticket_types) -> None:
    unknown = {
        f"lines.{index}.ticket_type": [_("This ticket type does not exist.")]
        for index, line in enumerate(lines)
        if line.ticket_type_id not in ticket_types
    }
    if unknown:
        raise BasketInvalid(unknown)


def _quote(session, lines, ticket_types, now) -> PriceQuote:
    return price_basket(
        event=session.event,
        lines=[(ticket_types[line.ticket_type_id], line.quantity) for line in lines],
        at=now,
    )


def _write_booking(
    *,
    session,
    quote,
    buyer,
    attendees,
    channel,
    idempotency_key,
    actor,
    reference,
    now,
) -> Booking:
    is_free = quote.is_free
    booking = Booking.objects.create(
        organiser_id=session.event.organiser_id,
        event_id=session.event_id,
        session=session,
        reference=reference,
        status=Booking.Status.CONFIRMED if is_free else Booking.Status.PENDING,
        channel=channel,
        quantity=quote.quantity,
        currency=quote.currency,
        subtotal_minor=quote.subtotal_minor,
        discount_minor=quote.discount_minor,
        total_minor=quote.total_minor,
        buyer_name=buyer.name.strip(),
        buyer_email=buyer.email.strip(),
        buyer_phone=buyer.phone.strip(),
        idempotency_key=idempotency_key or None,
        expires_at=None
        if is_free
        else now + dt.timedelta(minutes=settings.BOOKING_HOLD_MINUTES),
        confirmed_at=now if is_free else None,
    )
    booking_lines = BookingLine.objects.bulk_create(
        [
            BookingLine(
                booking=booking,
                ticket_type_id=line.ticket_type_id,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                subtotal_minor=line.subtotal_minor,
                discount_minor=line.discount_minor,
                total_minor=line.total_minor,
                price_rule=line.rule,
            )
            for line in quote.lines
        ]
    )
    people = iter(attendees)
    Attendee.objects.bulk_create(
        [
            Attendee(
                booking=booking,
                line=booking_line,
                name=person.name.strip(),
                email=person.email.strip(),
            )
            for booking_line in booking_lines
            for person in (next(people) for _ in range(booking_line.quantity))
        ]
    )
    audit_log(
        action="bookings.booking.confirmed" if is_free else "bookings.booking.held",
        obj=booking,
        organiser_id=booking.organiser_id,
        actor=actor,
        data={
            "reference": reference,
            "quantity": quote.quantity,
            "total_minor": quote.total_minor,
            "channel": channel,
        },
    )
    return booking
