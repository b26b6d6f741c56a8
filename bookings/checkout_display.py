"""What the checkout shows beside its fields: price, seats left and per-order limits
for each ticket type in the chosen session, sold-out sessions, and the error summary
at the top (the GOV.UK pattern: every error, each a link to its field).

Availability comes from the cache (`selectors.sessions_availability`): to show,
never to sell. The hold decides again under the locks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.forms import BoundField
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, Session, TicketType

from . import selectors
from .forms import CheckoutForm

# The event page's rules for a ticket type's state (sales window, fewer seats left
# than its minimum order), shared so that both pages say the same thing.
from .views import STATE_ON_SALE, STATE_SOLD_OUT, _offer, _ticket_price


@dataclass(frozen=True, slots=True)
class QuantityRow:
    ticket_type: TicketType
    field: BoundField
    price_minor: int
    regular_minor: int
    available: int | None  # None: no session chosen
    state: str  # views.STATE_*
    most: int  # the largest quantity one order may take
    limits: str  # "5 to 20 per order"
    errors: list[str]

    @property
    def is_buyable(self) -> bool:
        return self.state == STATE_ON_SALE

    @property
    def is_sold_out(self) -> bool:
        return self.state == STATE_SOLD_OUT


@dataclass(frozen=True, slots=True)
class SummaryItem:
    message: str
    target: str  # an element id to link to; "" for none


def order_limits(ticket_type: TicketType, event: Event) -> tuple[int, int, str]:
    """(fewest, most, text) that one order may take of `ticket_type`."""
    most = min(ticket_type.max_per_order, event.max_tickets_per_order)
    fewest = max(1, ticket_type.min_per_order)
    if fewest > 1:
        text = _("%(min)d to %(max)d per order") % {"min": fewest, "max": most}
    else:
        text = _("Up to %(max)d per order") % {"max": most}
    return fewest, most, text


def sold_out_sessions(
    sessions: Sequence[Session], ticket_types: Sequence[TicketType]
) -> set[int]:
    """Sessions where no ticket type can be bought any more (by the cached figures)."""
    availability = selectors.sessions_availability(sessions, ticket_types)
    now = timezone.now()
    # Types outside their sales window do not make a session sold out or not.
    selling = [
        tt
        for tt in ticket_types
        if _offer(_ticket_price(tt, now), 1, now).state == STATE_ON_SALE
    ]
    sold_out = set()
    for session in sessions:
        seats = availability[session.pk]
        if seats.is_sold_out or (
            selling
            and not any(
                seats.for_ticket_type(tt.pk) >= max(1, tt.min_per_order)
                for tt in selling
            )
        ):
            sold_out.add(session.pk)
    return sold_out


def quantity_rows(
    form: CheckoutForm,
    session: Session | None,
    fresher: Mapping[int, int] | None = None,
) -> list[QuantityRow]:
    """One row per ticket type for `session` (None: figures without seats left).
    `fresher`: seats left per ticket type from a sold-out answer given under the
    lock, which beats the cache."""
    now: dt.datetime = timezone.now()
    availability = (
        selectors.session_availability(session, form.ticket_types)
        if session is not None
        else None
    )
    rows = []
    for ticket_type, field in form.quantity_fields():
        price = _ticket_price(ticket_type, now)
        left = None
        if availability is not None:
            left = availability.for_ticket_type(ticket_type.pk)
        if fresher and ticket_type.pk in fresher:
            left = fresher[ticket_type.pk]
        offer = _offer(price, left if left is not None else 1, now)
        _fewest, most, limits = order_limits(ticket_type, form.event)
        rows.append(
            QuantityRow(
                ticket_type=ticket_type,
                field=field,
                price_minor=price.price_minor,
                regular_minor=price.regular_minor,
                available=None if left is None else max(0, left),
                state=offer.state,
                most=most,
                limits=limits,
                errors=list(field.errors),
            )
        )
    return rows


def error_summary(form: CheckoutForm, rows: Sequence[QuantityRow]) -> list[SummaryItem]:
    """Every error on the page in the page's order, each linked to its field. An
    error about the whole basket links to the first quantity the buyer chose."""
    chosen = next(
        (row.field for row in rows if (row.field.value() or "0") not in ("", "0")),
        rows[0].field if rows else None,
    )
    basket_target = chosen.auto_id if chosen is not None else ""
    items = [
        SummaryItem(str(message), basket_target) for message in form.non_field_errors()
    ]
    names = [
        "session",
        *(row.field.name for row in rows),
        "buyer_name",
        "buyer_email",
        "buyer_phone",
        *(
            name
            for pair in form.attendee_fields()
            for name in (pair[0].name, pair[1].name)
        ),
    ]
    errors = form.errors if form.is_bound else {}
    for name in names:
        for message in errors.get(name, []):
            field = form[name]
            items.append(SummaryItem(f"{field.label}: {message}", field.auto_id))
    return items
