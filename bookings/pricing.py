"""The one pricing function. Pages, the API, payment amounts and invoices all call it.

Rules, per line of a basket:
- the unit price is the early-bird price while `at` is before the ticket type's
  early-bird deadline, otherwise the regular price;
- a group discount (percent) applies when the line's quantity reaches the group minimum,
  unless the early-bird price applies (early bird wins, they never stack);
- the discount is rounded half-up to a whole minor unit, per line.
Amounts are integer minor units in the event's currency. Prices are tax-inclusive; a
line keeps room for a tax breakdown (`taxes`) that invoicing will fill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, TicketType
from ticketing.lib.money import Money, percent_of, percent_to_basis_points

from .exceptions import BasketInvalid


class PriceRule:
    REGULAR = "regular"
    EARLY_BIRD = "early_bird"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class PricedLine:
    ticket_type_id: int
    ticket_type_name: str
    quantity: int
    unit_price_minor: int
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    rule: str
    taxes: tuple = ()


@dataclass(frozen=True, slots=True)
class PriceQuote:
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    priced_at: dt.datetime = field(compare=False)

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_free(self) -> bool:
        return self.total_minor == 0


def unit_price(ticket_type: TicketType, at: dt.datetime) -> tuple[int, str]:
    """The unit price a buyer pays for one ticket at `at`, and which rule gave it."""
    if (
        ticket_type.early_bird_price_minor is not None
        and ticket_type.early_bird_deadline_at is not None
        and at < ticket_type.early_bird_deadline_at
    ):
        return ticket_type.early_bird_price_minor, PriceRule.EARLY_BIRD
    return ticket_type.price_minor, PriceRule.REGULAR


def price_line(ticket_type: TicketType, quantity: int, at: dt.datetime) -> PricedLine:
    unit_minor, rule = unit_price(ticket_type, at)
    subtotal = unit_minor * quantity
    discount = 0
    if (
        rule == PriceRule.REGULAR
        and ticket_type.group_min_quantity
        and ticket_type.group_discount_percent
        and quantity >= ticket_type.group_min_quantity
    ):
        discount = percent_of(
            subtotal, percent_to_basis_points(ticket_type.group_discount_percent)
        )
        rule = PriceRule.GROUP
    return PricedLine(
        ticket_type_id=ticket_type.pk,
        ticket_type_name=ticket_type.name,
        quantity=quantity,
        unit_price_minor=unit_minor,
        subtotal_minor=subtotal,
        discount_minor=discount,
        total_minor=subtotal - discount,
        rule=rule,
    )


def _line_errors(
    event: Event, ticket_type: TicketType, quantity: int, at: dt.datetime
) -> list[str]:
    if ticket_type.event_id != event.pk:
        return [_("This ticket type belongs to another event.")]
    if not ticket_type.is_active:
        return [_("This ticket type is not available.")]
    if ticket_type.sales_start_at and at < ticket_type.sales_start_at:
        return [_("Sales for this ticket type have not started yet.")]
    if ticket_type.sales_end_at and at >= ticket_type.sales_end_at:
        return [_("Sales for this ticket type have ended.")]
    if quantity < 1:
        return [_("Choose at least one ticket.")]
    if quantity < ticket_type.min_per_order:
        return [
            _("At least %(n)d tickets of this type per order.")
            % {"n": ticket_type.min_per_order}
        ]
    if quantity > ticket_type.max_per_order:
        return [
            _("At most %(n)d tickets of this type per order.")
            % {"n": ticket_type.max_per_order}
        ]
    return []


def price_basket(
    *,
    event: Event,
    lines: Sequence[tuple[TicketType, int]],
    at: dt.datetime | None = None,
) -> PriceQuote:
    """Price `lines` of (ticket type, quantity) for `event` at time `at` (default now).

    Raises `BasketInvalid` with errors keyed `lines.<i>.quantity` or
    `lines.<i>.ticket_type` when a line breaks a rule (other event, inactive, outside
    its sales window, quantity out of the per-order bounds), or `lines` when the
    basket is empty or holds more than the event's `max_tickets_per_order`, or
    repeats a ticket type.
    """
    at = at or timezone.now()
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["lines"] = [_("Choose at least one ticket.")]
    seen: set[int] = set()
    for index, (ticket_type, quantity) in enumerate(lines):
        if ticket_type.pk in seen:
            errors[f"lines.{index}.ticket_type"] = [
                _("This ticket type is listed twice.")
            ]
            continue
        seen.add(ticket_type.pk)
        if problems := _line_errors(event, ticket_type, quantity, at):
            key = (
                "quantity"
                if ticket_type.event_id == event.pk and ticket_type.is_active
                else "ticket_type"
            )
            errors[f"lines.{index}.{key}"] = problems
    quantity = sum(quantity for _, quantity in lines)
    if not errors and quantity > event.max_tickets_per_order:
        errors["lines"] = [
            _("At most %(n)d tickets per order.") % {"n": event.max_tickets_per_order}
        ]
    if errors:
        raise BasketInvalid(errors)
    priced = tuple(
        price_line(ticket_type, quantity, at) for ticket_type, quantity in lines
    )
    subtotal = sum(line.subtotal_minor for line in priced)
    discount = sum(line.discount_minor for line in priced)
    return PriceQuote(
        currency=event.currency,
        lines=priced,
        subtotal_minor=subtotal,
        discount_minor=discount,
        total_minor=subtotal - discount,
        priced_at=at,
    )
