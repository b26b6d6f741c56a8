"""Holding seats: creating a booking under the session lock."""

from __future__ import annotations

import contextlib
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
from django.utils.translation import gettext_lazy

from events import selectors as event_selectors
from events.models import Event, Session
from ticketing import metrics

from ..availability import compute_session_availability
from ..discounts import discount_code_check_uses, discount_code_for_update
from ..exceptions import BasketInvalid, NotOnSale, SalesClosed, SoldOut
from ..locks import (
    busy_on_lock_timeout,
    session_for_update,
    ticket_types_for_share_counted,
)
from ..models import Booking, BookingLine
from ..pricing import PriceQuote, price_basket
from ..shedding import sale_admission
from ..tickets.rows import tickets_issue_rows
from ._common import after_commit
from .hold_limits import hold_share_check
from .rows import booking_rows_insert

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


@dataclass(frozen=True, slots=True)
class BillingInput:
    """The company an invoice is addressed to, when the buyer asks for one."""

    name: str
    address: str = ""
    tax_id: str = ""


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


# Lazy: an eager gettext here runs once at import, in English, for every buyer.
_NOT_ON_SALE_MESSAGES = {
    event_selectors.NOT_PUBLISHED: gettext_lazy("This event is not on sale."),
    event_selectors.NOT_YET: gettext_lazy("Sales have not started yet."),
    event_selectors.EVENT_SALES_ENDED: gettext_lazy("Sales have ended."),
}


def _check_on_sale(session: Session, now: dt.datetime) -> None:
    reason = event_selectors.session_sale_closed_reason(session, now)
    if reason == event_selectors.SALES_CLOSED:
        raise SalesClosed()
    if reason is not None:
        raise NotOnSale(_NOT_ON_SALE_MESSAGES.get(reason))


def _ensure_seats(
    session: Session, ticket_types, counts, quote: PriceQuote, now: dt.datetime
) -> None:
    """Raise SoldOut unless every line fits, in its allocation and in the session."""
    availability = compute_session_availability(
        session, ticket_types.values(), now, counts
    )
    if not _fits(availability, quote) and counts and counts.held_is_ceiling:
        # The ceiling said the session had room, so a line's allocation is short;
        # count exactly so that SoldOut reports true figures.
        _, counts = ticket_types_for_share_counted(
            session, ticket_types, now, seats_wanted=None
        )
        availability = compute_session_availability(
            session, ticket_types.values(), now, counts
        )
    if not _fits(availability, quote):
        raise SoldOut(
            session_available=availability.available,
            ticket_types_available={
                tt_id: entry.available
                for tt_id, entry in availability.ticket_types.items()
            },
        )


def _fits(availability, quote: PriceQuote) -> bool:
    return availability.available >= quote.quantity and all(
        availability.for_ticket_type(line.ticket_type_id) >= line.quantity
        for line in quote.lines
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
    language: str = "",
    organiser_id: int | None = None,
    client_key: str | None = None,
    billing: BillingInput | None = None,
    discount_code: str = "",
    complimentary: bool = False,
    confirm: bool = False,
) -> Booking:
    """Hold seats: a PENDING booking expiring after BOOKING_HOLD_MINUTES, or CONFIRMED
    at once when the total is zero.

    Locks the session, then the ticket types by id; checks sale status, windows and
    availability under the lock. Attendees fill the lines in order. The same
    `idempotency_key` (per organiser) returns the first booking, not a second hold.
    With `organiser_id` (the partner API), a session or ticket type of another
    organiser, or of an unpublished event, does not exist. Outside the back office,
    one buyer email or `client_key` (a web checkout's hashed address) may hold only
    its share of the session (`hold_limits`). Raises BasketInvalid, NotOnSale
    (SalesClosed once the session's sales window is over), HoldLimitReached, SoldOut
    or InventoryBusy (SaleShed at once when too many sales of the session are in
    flight, see bookings.shedding), and then writes nothing. `discount_code` (text
    as typed) is looked up among the organiser's codes and locked after the ticket
    types; its price comes from `price_basket`, and a code with no use left (in all
    or for the buyer's email) raises DiscountCodeUsedUp. From the back office only
    (channel ADMIN): `complimentary` gives the tickets free (a comp, flagged on the
    booking) and `confirm` sells at once, paid offline; both confirm in this
    transaction and issue the tickets. A new booking comes back with its event
    loaded and its lines in `written_lines`.
    """
    quantity = sum(line.quantity for line in lines)
    _validate_people(buyer, attendees, quantity)
    for _attempt in range(_REFERENCE_ATTEMPTS):
        try:
            return _booking_insert(
                session_id=session_id,
                lines=lines,
                buyer=buyer,
                attendees=attendees,
                channel=channel,
                idempotency_key=idempotency_key,
                actor=actor,
                language=language or settings.LANGUAGE_CODE,
                organiser_id=organiser_id,
                client_key=client_key,
                billing=billing,
                discount_code=discount_code,
                complimentary=complimentary,
                confirm=confirm,
            )
        except IntegrityError as error:
            # The same key won a race in another session: answer with its booking.
            organiser_id = (
                Session.objects.filter(pk=session_id)
                .values_list("event__organiser_id", flat=True)
                .first()
            )
            if existing := _existing_for_key(organiser_id, idempotency_key):
                return existing
            if "reference" not in str(error):
                raise
            logger.warning("Booking reference collision, drawing another")
    raise RuntimeError("Could not draw a unique booking reference")


def _booking_insert(
    *,
    session_id,
    lines,
    buyer,
    attendees,
    channel,
    idempotency_key,
    actor,
    language,
    organiser_id,
    client_key,
    billing=None,
    discount_code,
    complimentary=False,
    confirm=False,
) -> Booking:
    if (complimentary or confirm) and channel != Booking.Channel.ADMIN:
        raise ValueError("Only the back office gives comps or sells paid offline")
    # Buyers are shed when the session's queue is long; the back office never is.
    admission = (
        contextlib.nullcontext()
        if channel == Booking.Channel.ADMIN
        else sale_admission(session_id)
    )
    with admission, busy_on_lock_timeout(), transaction.atomic(durable=True):
        try:
            session = session_for_update(session_id, generic_plans=True)
        except Session.DoesNotExist:
            raise BasketInvalid(
                {"session": [_("This session does not exist.")]}
            ) from None
        if organiser_id is not None and (
            session.event.organiser_id != organiser_id
            or session.event.status != Event.Status.PUBLISHED
        ):
            raise BasketInvalid({"session": [_("This session does not exist.")]})
        now = timezone.now()
        ticket_types, counts = ticket_types_for_share_counted(
            session,
            (line.ticket_type_id for line in lines),
            now,
            seats_wanted=sum(line.quantity for line in lines),
        )
        organiser = session.event.organiser
        if existing := _existing_for_key(organiser.pk, idempotency_key):
            return existing
        _check_known(lines, ticket_types, session, organiser_id)
        _check_on_sale(session, now)
        code = discount_code_for_update(organiser_id=organiser.pk, text=discount_code)
        quote = price_basket(
            event=session.event,
            lines=[
                (ticket_types[line.ticket_type_id], line.quantity) for line in lines
            ],
            at=now,
            code=code,
            session=session,
            complimentary=complimentary,
        )
        if code is not None:
            discount_code_check_uses(code, email=buyer.email, now=now)
        if channel != Booking.Channel.ADMIN:
            hold_share_check(
                session=session,
                counts=counts,
                seats_wanted=quote.quantity,
                email=buyer.email,
                client_key=client_key,
                now=now,
            )
        _ensure_seats(session, ticket_types, counts, quote, now)
        confirm_now = quote.is_free or confirm
        hold_time = dt.timedelta(minutes=settings.BOOKING_HOLD_MINUTES)
        booking = booking_rows_insert(
            session=session,
            quote=quote,
            reference=booking_reference_new(organiser.reference_prefix),
            status=Booking.Status.CONFIRMED if confirm_now else Booking.Status.PENDING,
            channel=channel,
            buyer=buyer,
            attendees=attendees,
            idempotency_key=idempotency_key,
            expires_at=None if confirm_now else now + hold_time,
            now=now,
            audit_action="bookings.booking.confirmed"
            if confirm_now
            else "bookings.booking.held",
            actor=actor,
            language=language,
            client_key=client_key,
            billing=billing,
            discount_code_id=code.pk if code is not None else None,
            is_complimentary=complimentary,
        )
        if confirm_now:
            Session.objects.filter(pk=session.pk).update(
                sold_count=F("sold_count") + quote.quantity
            )
            tickets_issue_rows(booking)
        after_commit(session.pk, booking.pk if confirm_now else None)
        transaction.on_commit(
            lambda: (
                metrics.sale_counted(channel, quote.quantity)
                if confirm_now
                else metrics.hold_counted(channel)
            )
        )
    _attach_written_rows(booking, session, quote)
    return booking


def _attach_written_rows(booking: Booking, session: Session, quote: PriceQuote) -> None:
    """Give the caller what it wrote, so that rendering it reads nothing back:
    `event`, and `written_lines` (unsaved copies of the booking's lines)."""
    booking.event = session.event
    booking.written_lines = [
        BookingLine(
            booking_id=booking.pk,
            ticket_type_id=line.ticket_type_id,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
            subtotal_minor=line.subtotal_minor,
            discount_minor=line.discount_minor,
            total_minor=line.total_minor,
            price_rule=line.rule,
            tax_minor=line.tax_minor,
            tax_rate_id=line.tax_rate_id,
            tax_name=line.tax_name,
            tax_percent=line.tax_percent,
            tax_code=line.tax_code,
        )
        for line in quote.lines
    ]


def _check_known(lines, ticket_types, session: Session, organiser_id) -> None:
    hidden: set[int] = set()
    foreign_events = {
        ticket_type.event_id
        for ticket_type in ticket_types.values()
        if ticket_type.event_id != session.event_id
    }
    if organiser_id is not None and foreign_events:
        # Another event of the same organiser is the pricing's "another event";
        # another organiser's ticket type must look like no ticket type at all.
        own = set(
            Event.objects.filter(
                pk__in=foreign_events, organiser_id=organiser_id
            ).values_list("pk", flat=True)
        )
        hidden = {
            pk
            for pk, ticket_type in ticket_types.items()
            if ticket_type.event_id in foreign_events - own
        }
    unknown = {
        f"lines.{index}.ticket_type": [_("This ticket type does not exist.")]
        for index, line in enumerate(lines)
        if line.ticket_type_id not in ticket_types or line.ticket_type_id in hidden
    }
    if unknown:
        raise BasketInvalid(unknown)
