"""Buyer pages: the event list and an event's sessions, prices and availability.

Prices come from the one pricing function (`pricing.unit_price`), availability from the
cached selectors: both only to show. Checkout decides again, under the locks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from events import selectors as event_selectors
from events.models import Event, Session, TicketType

from . import selectors
from .availability import SessionAvailability
from .pricing import PriceRule, unit_price

EVENTS_PER_PAGE = 20
# A long run (a show playing every night for a year) lists its next dates a page at
# a time: rendering 500 dates took over a second of template time (issue 24).
DATES_PER_PAGE = 40
SESSIONS_PER_EVENT_IN_LIST = 3


@dataclass(frozen=True, slots=True)
class TicketPrice:
    """What one ticket of a type costs now, for display."""

    ticket_type: TicketType
    price_minor: int
    regular_minor: int
    is_early_bird: bool
    early_bird_deadline_at: dt.datetime | None
    has_group_discount: bool

    @property
    def is_free(self) -> bool:
        return self.price_minor == 0


@dataclass(frozen=True, slots=True)
class TicketOffer:
    """A ticket type in one session: its price and how many are left."""

    price: TicketPrice
    available: int
    state: str  # one of the STATE_* values below
    sales_start_at: dt.datetime | None = None

    @property
    def ticket_type(self) -> TicketType:
        return self.price.ticket_type

    @property
    def is_buyable(self) -> bool:
        return self.state == STATE_ON_SALE


@dataclass(slots=True)
class SessionRow:
    session: Session
    availability: SessionAvailability
    offers: list[TicketOffer]
    state: str
    sales_start_at: dt.datetime | None = None

    @property
    def can_book(self) -> bool:
        return self.state == STATE_ON_SALE


@dataclass(slots=True)
class DateGroup:
    date: dt.date
    rows: list[SessionRow] = field(default_factory=list)


@dataclass(slots=True)
class CityGroup:
    city: str
    dates: list[DateGroup] = field(default_factory=list)


STATE_ON_SALE = "on_sale"
STATE_SOLD_OUT = "sold_out"
STATE_NOT_YET = "not_yet"
STATE_ENDED = "ended"
STATE_PAUSED = "paused"
STATE_CLOSED = "closed"


def _ticket_price(ticket_type: TicketType, now: dt.datetime) -> TicketPrice:
    price_minor, rule = unit_price(ticket_type, now)
    is_early_bird = rule == PriceRule.EARLY_BIRD
    return TicketPrice(
        ticket_type=ticket_type,
        price_minor=price_minor,
        regular_minor=ticket_type.price_minor,
        is_early_bird=is_early_bird,
        early_bird_deadline_at=(
            ticket_type.early_bird_deadline_at if is_early_bird else None
        ),
        has_group_discount=bool(
            ticket_type.group_min_quantity and ticket_type.group_discount_percent
        ),
    )


def _window_state(
    start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
) -> str | None:
    if start and now < start:
        return STATE_NOT_YET
    if end and now >= end:
        return STATE_ENDED
    return None


def _offer(price: TicketPrice, available: int, now: dt.datetime) -> TicketOffer:
    ticket_type = price.ticket_type
    state = _window_state(ticket_type.sales_start_at, ticket_type.sales_end_at, now)
    if state is None:
        # Fewer seats than the smallest order allowed cannot be bought either.
        fits = available > 0 and available >= ticket_type.min_per_order
        state = STATE_ON_SALE if fits else STATE_SOLD_OUT
    return TicketOffer(
        price=price,
        available=max(0, available),
        state=state,
        sales_start_at=ticket_type.sales_start_at,
    )


def _session_row(
    event: Event,
    session: Session,
    availability: SessionAvailability,
    prices: list[TicketPrice],
    now: dt.datetime,
) -> SessionRow:
    offers = [
        _offer(price, availability.for_ticket_type(price.ticket_type.pk), now)
        for price in prices
    ]
    reason = event_selectors.session_sale_closed_reason(session, now)
    if reason == event_selectors.SALES_CLOSED:
        # Seats may be left, but none can be bought any more.
        offers = [replace(offer, state=STATE_ENDED) for offer in offers]
    if reason == event_selectors.PAUSED:
        state = STATE_PAUSED
    elif reason in (event_selectors.CLOSED, event_selectors.SALES_CLOSED):
        state = STATE_CLOSED  # by hand, or its sales window is over (it has started)
    else:
        state = _window_state(event.sales_start_at, event.sales_end_at, now)
    if state is None:
        states = {offer.state for offer in offers}
        if STATE_ON_SALE in states:
            state = STATE_ON_SALE
        elif availability.is_sold_out or (
            STATE_SOLD_OUT in states and STATE_NOT_YET not in states
        ):
            state = STATE_SOLD_OUT
        elif STATE_NOT_YET in states:
            state = STATE_NOT_YET
        elif not offers:
            state = STATE_CLOSED  # no ticket type on offer at all
        else:
            state = STATE_ENDED
    sales_start_at = event.sales_start_at if state == STATE_NOT_YET else None
    if state == STATE_NOT_YET and sales_start_at is None:
        starts = [o.sales_start_at for o in offers if o.state == STATE_NOT_YET]
        sales_start_at = min(starts) if starts else None
    return SessionRow(
        session=session,
        availability=availability,
        offers=offers,
        state=state,
        sales_start_at=sales_start_at,
    )


def _group_by_city_and_date(event: Event, rows: list[SessionRow]) -> list[CityGroup]:
    """Cities in the order of their first session; dates local to each session."""
    cities: dict[str, CityGroup] = {}
    for row in rows:  # already soonest first
        city = cities.setdefault(row.session.city, CityGroup(row.session.city))
        session = row.session
        local_date = timezone.localtime(session.starts_at, session.tzinfo).date()
        if not city.dates or city.dates[-1].date != local_date:
            city.dates.append(DateGroup(local_date))
        city.dates[-1].rows.append(row)
    return list(cities.values())


def _on_sale_prices(event: Event, now: dt.datetime) -> list[int]:
    """Current unit prices of the event's ticket types within their sales window."""
    return [
        unit_price(ticket_type, now)[0]
        for ticket_type in event.active_ticket_types
        if selectors.ticket_type_on_sale(ticket_type, now)
    ]


def event_list(request):
    now = timezone.now()
    city = request.GET.get("city", "").strip()
    events = event_selectors.published_event_list(city=city, now=now)
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.next_sessions = event.upcoming_sessions[:SESSIONS_PER_EVENT_IN_LIST]
        event.more_sessions = max(
            0, len(event.upcoming_sessions) - SESSIONS_PER_EVENT_IN_LIST
        )
        prices = _on_sale_prices(event, now)
        paid = [price for price in prices if price > 0]
        event.from_price_minor = min(paid) if paid else None
        event.has_free_tickets = 0 in prices
    cities = event_selectors.published_event_cities(now=now)
    selected_city = next((c for c in cities if c.casefold() == city.casefold()), city)
    return render(
        request,
        "events/event_list.html",
        {
            "page": page,
            "events": page.object_list,
            "cities": cities,
            "city": selected_city,
        },
    )


def event_detail(request, slug: str):
    now = timezone.now()
    try:
        event = event_selectors.published_event_detail(slug, now=now)
    except Event.DoesNotExist:
        raise Http404(_("No such event.")) from None
    page = Paginator(event.upcoming_sessions, DATES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    sessions = page.object_list
    ticket_types = event.active_ticket_types
    # Availability of this page's sessions only: past sessions and later pages are
    # neither shown nor counted.
    availability = selectors.sessions_availability(sessions, ticket_types)
    prices = [_ticket_price(ticket_type, now) for ticket_type in ticket_types]
    rows = [
        _session_row(event, session, availability[session.pk], prices, now)
        for session in sessions
    ]
    return render(
        request,
        "events/event_detail.html",
        {
            "event": event,
            "availability": availability,
            "prices": prices,
            "city_groups": _group_by_city_and_date(event, rows),
            "session_count": page.paginator.count,
            "dates_page": page,
            "has_stale_availability": any(
                row.availability.is_external_stale for row in rows
            ),
        },
    )
