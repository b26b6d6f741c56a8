"""The one pricing function. Pages, the API, payment amounts and invoices all call it.

Rules, per line of a basket:
- the unit price is the early-bird price while `at` is before the ticket type's
  early-bird deadline, otherwise the regular price;
- a group discount (percent) applies when the line's quantity reaches the group minimum,
  unless the early-bird price applies (early bird wins, they never stack);
- the discount is rounded half-up to a whole minor unit, per line;
- then a discount code, if one is given (`apply_code`): a percentage of each eligible
  line's price after the rules above, or a fixed amount off each eligible ticket
  (never below zero). Codes stack on early-bird and group prices. Discounts come
  before tax: a tax breakdown is computed on the discounted line totals.
- tax is computed per line, on the line's amount after its discount, at the ticket
  type's tax rate (none: no tax; exempt: a 0 tax line), and rounded half-up to a whole
  minor unit once per line, never per ticket; the quote's tax is the sum of its lines'.
  With the organiser's prices tax-inclusive (the default), the line's gross is its
  amount and tax = gross - round(gross × 100 / (100 + percent)); tax-exclusive, the
  line's net is its amount and tax = round(net × percent / 100), gross = net + tax.
  `total_minor` is always the gross: what the buyer pays, and the payment amount.
Amounts are integer minor units in the event's currency, so a zero-decimal currency
(JPY) rounds tax to whole yen and a three-decimal one (KWD) to fils, with no special
case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, Session, TaxRate, TicketType
from ticketing.lib.money import Money, percent_of, percent_to_basis_points

from .exceptions import BasketInvalid


class PriceRule:
    REGULAR = "regular"
    EARLY_BIRD = "early_bird"
    GROUP = "group"
    COMPLIMENTARY = "comp"


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
    net_minor: int = 0
    tax_minor: int = 0
    tax_rate_id: int | None = None
    tax_name: str = ""
    tax_percent: Decimal | None = None
    tax_code: str = ""
    code_discount_minor: int = 0

    @property
    def gross_minor(self) -> int:
        return self.total_minor

    @property
    def rule_discount_minor(self) -> int:
        """The early-bird or group part of the discount, without the code's."""
        return self.discount_minor - self.code_discount_minor


@dataclass(frozen=True, slots=True)
class TaxSummary:
    """One rate's share of a quote or booking: the net it was charged on, and tax."""

    name: str
    percent: Decimal | None
    net_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class PriceQuote:
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    priced_at: dt.datetime = field(compare=False)
    net_minor: int = 0
    tax_minor: int = 0
    prices_include_tax: bool = True
    code: str = ""
    code_discount_minor: int = 0

    @property
    def gross_minor(self) -> int:
        return self.total_minor

    @property
    def taxes(self) -> list[TaxSummary]:
        return tax_summaries(self.lines)

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


def tax_summaries(lines) -> list[TaxSummary]:
    """Tax per rate of `lines` (priced lines or booking lines), rates in first-seen
    order; lines without a rate are left out."""
    by_rate: dict[tuple[str, Decimal | None], list[int]] = {}
    for line in lines:
        if not line.tax_name:
            continue
        sums = by_rate.setdefault((line.tax_name, line.tax_percent), [0, 0])
        sums[0] += line.net_minor
        sums[1] += line.tax_minor
    return [
        TaxSummary(name=name, percent=percent, net_minor=net, tax_minor=tax)
        for (name, percent), (net, tax) in by_rate.items()
    ]


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split_tax(
    amount_minor: int, percent: Decimal, *, prices_include_tax: bool
) -> tuple[int, int, int]:
    """(net, tax, gross) of one line's amount at `percent`, rounded once (see the
    module docstring)."""
    if not percent:
        return amount_minor, 0, amount_minor
    if prices_include_tax:
        net = _round(Decimal(amount_minor) * 100 / (100 + percent))
        return net, amount_minor - net, amount_minor
    tax = _round(Decimal(amount_minor) * percent / 100)
    return amount_minor, tax, amount_minor + tax


def price_line(
    ticket_type: TicketType,
    quantity: int,
    at: dt.datetime,
    *,
    tax_rate: TaxRate | None = None,
    prices_include_tax: bool = True,
) -> PricedLine:
    """One line; `tax_rate` is the ticket type's (looked up by `price_basket`)."""
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
    percent = tax_rate.effective_percent if tax_rate is not None else Decimal(0)
    net, tax, gross = split_tax(
        subtotal - discount, percent, prices_include_tax=prices_include_tax
    )
    return PricedLine(
        ticket_type_id=ticket_type.pk,
        ticket_type_name=ticket_type.name,
        quantity=quantity,
        unit_price_minor=unit_minor,
        subtotal_minor=subtotal,
        discount_minor=discount,
        total_minor=gross,
        rule=rule,
        net_minor=net,
        tax_minor=tax,
        tax_rate_id=tax_rate.pk if tax_rate is not None else None,
        tax_name=tax_rate.name if tax_rate is not None else "",
        tax_percent=percent if tax_rate is not None else None,
        tax_code=tax_rate.account_code if tax_rate is not None else "",
    )



def _taxed(
    line: PricedLine, tax_rate: TaxRate | None, prices_include_tax: bool
) -> PricedLine:
    """`line` with the tax of what it costs after its discounts (one rounding)."""
    percent = tax_rate.effective_percent if tax_rate is not None else Decimal(0)
    net, tax, gross = split_tax(
        line.subtotal_minor - line.discount_minor,
        percent,
        prices_include_tax=prices_include_tax,
    )
    return replace(
        line,
        total_minor=gross,
        net_minor=net,
        tax_minor=tax,
        tax_rate_id=tax_rate.pk if tax_rate is not None else None,
        tax_name=tax_rate.name if tax_rate is not None else "",
        tax_percent=percent if tax_rate is not None else None,
        tax_code=tax_rate.account_code if tax_rate is not None else "",
    )

def _tax_rates(ticket_types) -> dict[int, TaxRate]:
    """The ticket types' tax rates in one query (none when no type has a rate)."""
    rates: dict[int, TaxRate] = {}
    missing = set()
    for ticket_type in ticket_types:
        if ticket_type.tax_rate_id is None:
            continue
        cached = TicketType.tax_rate.field.get_cached_value(ticket_type, None)
        if cached is not None:
            rates[cached.pk] = cached
        else:
            missing.add(ticket_type.tax_rate_id)
    if missing - rates.keys():
        rates.update(TaxRate.objects.in_bulk(missing - rates.keys()))
    return rates


def _prices_include_tax(event: Event) -> bool:
    if event.organiser_id is None:
        return True
    return event.organiser.prices_include_tax


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
    code=None,
    session: Session | None = None,
    complimentary: bool = False,
) -> PriceQuote:
    """Price `lines` of (ticket type, quantity) for `event` at time `at` (default now),
    with the tax of each line (module docstring: one rounding per line).

    Raises `BasketInvalid` with errors keyed `lines.<i>.quantity` or
    `lines.<i>.ticket_type` when a line breaks a rule (other event, inactive, outside
    its sales window, quantity out of the per-order bounds), or `lines` when the
    basket is empty or holds more than the event's `max_tickets_per_order`, or
    repeats a ticket type.

    With `code` (a `DiscountCode`, its events, sessions and ticket types prefetched)
    and the `session` being bought, the code's discount is applied (`apply_code`);
    a code that does not apply raises BasketInvalid on `code`. Usage limits are not
    checked here (`bookings.discounts`, under the sale's locks).

    `complimentary` (comps given from the back office) prices every line at zero
    with the rule `comp`: no revenue, and no discount to report either.
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
    rates = _tax_rates(ticket_type for ticket_type, _ in lines)
    include_tax = _prices_include_tax(event)
    # Prices and discounts first (untaxed), then a comp or a code, then the tax of
    # each line on what is left: discounts come before tax.
    priced = tuple(
        price_line(ticket_type, quantity, at) for ticket_type, quantity in lines
    )
    if complimentary:
        priced = tuple(
            replace(
                line,
                unit_price_minor=0,
                subtotal_minor=0,
                discount_minor=0,
                total_minor=0,
                net_minor=0,
                rule=PriceRule.COMPLIMENTARY,
            )
            for line in priced
        )
    elif code is not None:
        priced = apply_code(code, priced, event=event, session=session, at=at)
    priced = tuple(
        _taxed(line, rates.get(ticket_type.tax_rate_id), include_tax)
        for line, (ticket_type, _) in zip(priced, lines, strict=True)
    )
    return PriceQuote(
        currency=event.currency,
        lines=priced,
        subtotal_minor=sum(line.subtotal_minor for line in priced),
        discount_minor=sum(line.discount_minor for line in priced),
        total_minor=sum(line.total_minor for line in priced),
        priced_at=at,
        net_minor=sum(line.net_minor for line in priced),
        tax_minor=sum(line.tax_minor for line in priced),
        prices_include_tax=include_tax,
        code=code.code if code is not None else "",
        code_discount_minor=sum(line.code_discount_minor for line in priced),
    )


def _code_refusal(code, *, event, session, quantity, at) -> str | None:
    if not code.is_active:
        return _("This code is not valid.")
    if code.valid_from and at < code.valid_from:
        return _("This code is not valid yet.")
    if code.valid_until and at >= code.valid_until:
        return _("This code has expired.")
    event_ids = {item.pk for item in code.events.all()}
    session_ids = {item.pk for item in code.sessions.all()}
    if code.organiser_id != event.organiser_id or (
        event_ids and event.pk not in event_ids
    ):
        return _("This code is not valid for this event.")
    if session_ids and (session is None or session.pk not in session_ids):
        return _("This code is not valid for this date.")
    if code.kind == code.Kind.FIXED and code.currency != event.currency:
        return _("This code is not valid for this event.")
    if quantity < code.min_quantity:
        return _("This code needs at least %(n)d tickets in the order.") % {
            "n": code.min_quantity
        }
    return None


def apply_code(
    code, lines: tuple[PricedLine, ...], *, event: Event, session, at: dt.datetime
) -> tuple[PricedLine, ...]:
    """`lines` with the code's discount added to each eligible line's discount."""
    quantity = sum(line.quantity for line in lines)
    refusal = _code_refusal(
        code, event=event, session=session, quantity=quantity, at=at
    )
    if refusal:
        raise BasketInvalid({"code": [refusal]})
    type_ids = {item.pk for item in code.ticket_types.all()}
    result, applied = [], False
    for line in lines:
        extra = 0
        if not type_ids or line.ticket_type_id in type_ids:
            applied = True
            if code.kind == code.Kind.PERCENT:
                extra = percent_of(
                    line.total_minor, percent_to_basis_points(code.percent)
                )
            else:
                extra = min(code.amount_minor * line.quantity, line.total_minor)
        result.append(
            replace(
                line,
                discount_minor=line.discount_minor + extra,
                total_minor=line.total_minor - extra,
                code_discount_minor=extra,
            )
        )
    if not applied:
        raise BasketInvalid({"code": [_("This code does not apply to these tickets.")]})
    return tuple(result)
