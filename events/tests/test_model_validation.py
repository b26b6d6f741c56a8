"""Every validation rule of the catalogue models, one test each.

Rules are checked twice where the model has both: `full_clean()` (what the admin, the
API and the services call) must name the field the error belongs to, and the database
CheckConstraint must refuse the row even when validation is bypassed.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from events.models import Event, Session, TicketType
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def error_fields(instance) -> set[str]:
    """The fields `full_clean()` attaches errors to (fails if it finds none)."""
    with pytest.raises(ValidationError) as excinfo:
        instance.full_clean()
    return set(excinfo.value.message_dict)


def assert_refused_by_database(model, pk: int, constraint: str, **values) -> None:
    """Write `values` past validation and expect the named CheckConstraint to refuse."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        model.objects.filter(pk=pk).update(**values)
    assert constraint in str(excinfo.value)


@pytest.fixture
def event():
    return EventFactory()


def build_ticket_type(event, **fields) -> TicketType:
    return TicketTypeFactory.build(event=event, **fields)


# --- The factories themselves produce valid rows -------------------------------------


def test_valid_catalogue_passes_full_clean(event):
    session = SessionFactory(event=event)
    session.full_clean()
    event.full_clean()
    event.organiser.full_clean()
    session.venue.full_clean()
    build_ticket_type(
        event,
        early_bird_price_minor=4000,
        early_bird_deadline_at=session.starts_at - dt.timedelta(days=1),
        group_min_quantity=2,
        group_discount_percent=Decimal("100"),
        min_per_order=3,
        max_per_order=3,
        sales_start_at=NOW,
        sales_end_at=NOW + dt.timedelta(seconds=1),
    ).full_clean()
    build_ticket_type(
        event, price_minor=0, group_min_quantity=5, group_discount_percent=Decimal("0")
    ).full_clean()


# --- Ticket type: prices -------------------------------------------------------------


def test_negative_price_refused(event):
    assert error_fields(build_ticket_type(event, price_minor=-1)) == {"price_minor"}


def test_negative_price_refused_by_database(event):
    ticket_type = TicketTypeFactory(event=event)
    assert_refused_by_database(
        TicketType, ticket_type.pk, "ticket_type_price_not_negative", price_minor=-1
    )


def test_negative_early_bird_price_refused(event):
    ticket_type = build_ticket_type(
        event, early_bird_price_minor=-1, early_bird_deadline_at=NOW
    )
    assert error_fields(ticket_type) == {"early_bird_price_minor"}


def test_negative_early_bird_price_refused_by_database(event):
    ticket_type = TicketTypeFactory(event=event)
    assert_refused_by_database(
        TicketType,
        ticket_type.pk,
        "ticket_type_early_bird_price_not_negative",
        early_bird_price_minor=-1,
    )


def test_early_bird_price_needs_deadline(event):
    ticket_type = build_ticket_type(event, early_bird_price_minor=4000)
    assert error_fields(ticket_type) == {"early_bird_deadline_at"}


def test_early_bird_deadline_needs_price(event):
    ticket_type = build_ticket_type(event, early_bird_deadline_at=NOW)
    assert error_fields(ticket_type) == {"early_bird_deadline_at"}


def test_early_bird_price_above_regular_refused(event):
    ticket_type = build_ticket_type(
        event, price_minor=5000, early_bird_price_minor=5001, early_bird_deadline_at=NOW
    )
    assert error_fields(ticket_type) == {"early_bird_price_minor"}


def test_early_bird_price_equal_to_regular_allowed(event):
    build_ticket_type(
        event, price_minor=5000, early_bird_price_minor=5000, early_bird_deadline_at=NOW
    ).full_clean()


@pytest.mark.parametrize("offset", [dt.timedelta(0), dt.timedelta(minutes=1)])
def test_early_bird_deadline_must_be_before_first_session(event, offset):
    first = SessionFactory(event=event, starts_at=NOW + dt.timedelta(days=10))
    SessionFactory(event=event, starts_at=NOW + dt.timedelta(days=20))
    ticket_type = build_ticket_type(
        event,
        early_bird_price_minor=4000,
        early_bird_deadline_at=first.starts_at + offset,
    )
    assert error_fields(ticket_type) == {"early_bird_deadline_at"}


# --- Ticket type: group discount -----------------------------------------------------


def test_group_minimum_below_two_refused(event):
    ticket_type = build_ticket_type(
        event, group_min_quantity=1, group_discount_percent=Decimal("10")
    )
    assert error_fields(ticket_type) == {"group_min_quantity"}


def test_group_minimum_below_two_refused_by_database(event):
    ticket_type = TicketTypeFactory(event=event)
    assert_refused_by_database(
        TicketType,
        ticket_type.pk,
        "ticket_type_group_min_at_least_2",
        group_min_quantity=1,
        group_discount_percent=10,
    )


@pytest.mark.parametrize("percent", [Decimal("-0.01"), Decimal("100.01")])
def test_group_discount_outside_0_100_refused(event, percent):
    ticket_type = build_ticket_type(
        event, group_min_quantity=2, group_discount_percent=percent
    )
    assert error_fields(ticket_type) == {"group_discount_percent"}


@pytest.mark.parametrize("percent", [Decimal("-1"), Decimal("101")])
def test_group_discount_outside_0_100_refused_by_database(event, percent):
    ticket_type = TicketTypeFactory(event=event)
    assert_refused_by_database(
        TicketType,
        ticket_type.pk,
        "ticket_type_group_discount_0_100",
        group_min_quantity=2,
        group_discount_percent=percent,
    )


def test_group_minimum_without_percent_refused(event):
    ticket_type = build_ticket_type(event, group_min_quantity=4)
    assert error_fields(ticket_type) == {"group_discount_percent"}


def test_group_percent_without_minimum_refused(event):
    ticket_type = build_ticket_type(event, group_discount_percent=Decimal("10"))
    assert error_fields(ticket_type) == {"group_discount_percent"}


# --- Ticket type: order limits and sales window --------------------------------------


def test_max_per_order_below_min_refused(event):
    ticket_type = build_ticket_type(event, min_per_order=4, max_per_order=3)
    assert error_fields(ticket_type) == {"max_per_order"}


def test_max_per_order_below_min_refused_by_database(event):
    ticket_type = TicketTypeFactory(event=event)
    assert_refused_by_database(
        TicketType,
        ticket_type.pk,
        "ticket_type_max_not_below_min",
        min_per_order=4,
        max_per_order=3,
    )


@pytest.mark.parametrize("length", [dt.timedelta(0), dt.timedelta(hours=-1)])
def test_ticket_type_sales_must_end_after_start(event, length):
    ticket_type = build_ticket_type(
        event, sales_start_at=NOW, sales_end_at=NOW + length
    )
    assert error_fields(ticket_type) == {"sales_end_at"}


# --- Event ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [dt.timedelta(0), dt.timedelta(hours=-1)])
def test_event_sales_must_end_after_start(length):
    event = EventFactory.build(
        organiser=OrganiserFactory(), sales_start_at=NOW, sales_end_at=NOW + length
    )
    assert error_fields(event) == {"sales_end_at"}


def test_event_sales_must_end_after_start_by_database(event):
    assert_refused_by_database(
        Event,
        event.pk,
        "event_sales_end_after_start",
        sales_start_at=NOW,
        sales_end_at=NOW,
    )


def test_event_invalid_timezone_refused():
    event = EventFactory.build(organiser=OrganiserFactory(), timezone="Europe/Atlantis")
    assert error_fields(event) == {"timezone"}


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "E1R"])
def test_event_invalid_currency_refused(currency):
    event = EventFactory.build(organiser=OrganiserFactory(), currency=currency)
    assert error_fields(event) == {"currency"}


# --- Session -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [dt.timedelta(0), dt.timedelta(hours=-1)])
def test_session_must_end_after_start(event, length):
    session = SessionFactory.build(
        event=event,
        venue=VenueFactory(organiser=event.organiser),
        starts_at=NOW,
        ends_at=NOW + length,
    )
    assert error_fields(session) == {"ends_at"}


def test_session_must_end_after_start_by_database(event):
    session = SessionFactory(event=event)
    assert_refused_by_database(
        Session, session.pk, "session_ends_after_start", ends_at=session.starts_at
    )


def test_session_capacity_below_one_refused(event):
    session = SessionFactory.build(
        event=event, venue=VenueFactory(organiser=event.organiser), capacity=0
    )
    assert error_fields(session) == {"capacity"}


def test_session_capacity_below_one_refused_by_database(event):
    session = SessionFactory(event=event)
    assert_refused_by_database(
        Session, session.pk, "session_capacity_positive", capacity=0
    )


def test_session_venue_of_another_organiser_refused(event):
    other_venue = VenueFactory(organiser=OrganiserFactory())
    session = SessionFactory.build(event=event, venue=other_venue)
    assert error_fields(session) == {"venue"}


# --- Organiser and venue -------------------------------------------------------------


def test_organiser_invalid_timezone_refused():
    assert error_fields(OrganiserFactory.build(timezone="Paris")) == {"timezone"}


def test_venue_invalid_timezone_refused():
    venue = VenueFactory.build(organiser=OrganiserFactory(), timezone="CET+25")
    assert error_fields(venue) == {"timezone"}


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "12€"])
def test_organiser_invalid_currency_refused(currency):
    assert error_fields(OrganiserFactory.build(currency=currency)) == {"currency"}


@pytest.mark.parametrize(
    "prefix",
    [
        "mc26",  # lower case
        "M",  # too short
        "MCABCDE",  # too long
        "MC10",  # 0 and 1 are ambiguous
        "MC21",  # 1 is ambiguous
        "MO26",  # O reads as 0
        "IC26",  # I reads as 1
        "MC-2",  # punctuation
    ],
)
def test_organiser_invalid_reference_prefix_refused(prefix):
    organiser = OrganiserFactory.build(reference_prefix=prefix)
    assert error_fields(organiser) == {"reference_prefix"}


def test_organiser_valid_reference_prefixes_accepted():
    for prefix in ("MC", "MC26", "ZZ9999"):
        OrganiserFactory.build(reference_prefix=prefix).full_clean()
