"""The back office in local time and currency units: an organiser types a session's
start as it is at the venue and a price as it is written, across a DST change and
for zero-decimal currencies; the database keeps UTC and minor units."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.utils import timezone

from events.admin import TicketTypeForm
from events.models import Event, Membership, Session, TicketType
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
    VenueFactory,
)
from events.tests.test_roles import admin_form_data, admin_url

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
LAGOS = zoneinfo.ZoneInfo("Africa/Lagos")


@pytest.fixture
def organiser(db):
    return OrganiserFactory(timezone="Europe/Paris", currency="EUR")


@pytest.fixture
def manager(client, organiser):
    user = UserFactory()
    MembershipFactory(user=user, organiser=organiser, role=Membership.Role.MANAGER)
    client.force_login(user)
    return user


def _session(organiser, *, zone="Europe/Paris", starts_at=None, city="Paris"):
    event = EventFactory(organiser=organiser, timezone="Europe/Paris")
    venue = VenueFactory(organiser=organiser, timezone=zone, city=city)
    starts_at = starts_at or dt.datetime(2027, 3, 20, 20, 0, tzinfo=PARIS)
    return SessionFactory(
        event=event,
        venue=venue,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
    )


def _post_times(client, session, **times):
    url = admin_url(Session, "change", session.pk)
    data = admin_form_data(client.get(url))
    for name, (day, clock) in times.items():
        data[f"{name}_0"], data[f"{name}_1"] = day, clock
    return client.post(url, data)


@pytest.mark.parametrize(
    ("day", "utc_hour", "abbreviation"),
    [("2027-03-27", 13, "CET"), ("2027-03-28", 12, "CEST")],
)
def test_a_session_time_round_trips_in_venue_time_across_dst(
    client, manager, organiser, day, utc_hour, abbreviation
):
    """Paris moves to summer time at 02:00 on 28 March 2027: 14:00 is 13:00 UTC the
    day before and 12:00 UTC that day. Typed 14:00, shown 14:00, either way."""
    session = _session(organiser)

    response = _post_times(
        client, session, starts_at=(day, "14:00"), ends_at=(day, "16:00")
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    session.refresh_from_db()
    assert session.starts_at == dt.datetime(
        *map(int, day.split("-")), utc_hour, 0, tzinfo=dt.UTC
    )
    page = client.get(admin_url(Session, "change", session.pk)).content.decode()
    assert re.search(r'name="starts_at_1"[^>]*value="14:00', page)
    assert re.search(r'name="starts_at_0"[^>]*value="' + day, page)
    assert f"Europe/Paris ({abbreviation})" in page


def test_a_time_that_does_not_exist_locally_is_refused(client, manager, organiser):
    """02:30 on 28 March 2027 never happens in Paris (clocks jump 02:00 -> 03:00)."""
    session = _session(organiser)
    before = session.starts_at

    response = _post_times(client, session, starts_at=("2027-03-28", "02:30"))

    assert response.status_code == 200
    assert "couldn’t be interpreted in time zone Europe/Paris" in (
        response.content.decode()
    )
    session.refresh_from_db()
    assert session.starts_at == before


def test_the_event_inline_shows_each_session_on_its_own_venue_clock(
    client, manager, organiser
):
    paris = _session(organiser)
    lagos = SessionFactory(
        event=paris.event,
        venue=VenueFactory(organiser=organiser, timezone="Africa/Lagos", city="Lagos"),
        starts_at=dt.datetime(2027, 1, 14, 14, 0, tzinfo=LAGOS),
        ends_at=dt.datetime(2027, 1, 14, 16, 0, tzinfo=LAGOS),
    )
    url = admin_url(Event, "change", paris.event.pk)
    change = client.get(url)
    page = change.content.decode()
    assert "Africa/Lagos (WAT)" in page
    assert "Europe/Paris (CET)" in page

    # Saved untouched, nothing moves; moved an hour later in Lagos, 14:00 UTC.
    data = admin_form_data(change)
    rows = {data[k]: k.rsplit("-", 1)[0] for k in data if k.endswith("-id")}
    prefix = rows[str(lagos.pk)]
    data[f"{prefix}-starts_at_1"] = "15:00"
    assert client.post(url, data).status_code == 302
    lagos.refresh_from_db()
    paris_before = paris.starts_at
    paris.refresh_from_db()
    assert lagos.starts_at == dt.datetime(2027, 1, 14, 14, 0, tzinfo=dt.UTC)
    assert paris.starts_at == paris_before


def test_a_new_session_is_read_on_the_clock_of_the_venue_chosen(
    client, manager, organiser
):
    event = EventFactory(organiser=organiser, timezone="Europe/Paris")
    venue = VenueFactory(organiser=organiser, timezone="Africa/Lagos", city="Lagos")
    response = client.post(
        admin_url(Session, "add"),
        {
            "event": event.pk,
            "venue": venue.pk,
            "starts_at_0": "2027-01-14",
            "starts_at_1": "14:00",
            "ends_at_0": "2027-01-14",
            "ends_at_1": "16:00",
            "capacity": 100,
            "sale_status": "on_sale",
        },
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    session = Session.objects.get(event=event)
    assert session.starts_at == dt.datetime(2027, 1, 14, 13, 0, tzinfo=dt.UTC)


def test_the_session_list_shows_local_start_times(client, manager, organiser):
    _session(organiser, starts_at=dt.datetime(2027, 1, 14, 14, 0, tzinfo=PARIS))

    page = client.get(admin_url(Session, "changelist")).content.decode()

    assert '<td class="field-local_starts_at">2027-01-14 14:00 CET</td>' in page


# Money


@pytest.mark.parametrize(
    ("currency", "typed", "minor", "shown"),
    [
        ("EUR", "90.00", 9000, "90.00"),
        ("EUR", "90,00", 9000, "90.00"),
        ("EUR", "1 250,50", 125050, "1250.50"),
        ("NGN", "15,000.00", 1500000, "15000.00"),
        ("NGN", "15000", 1500000, "15000.00"),
        ("JPY", "1500", 1500, "1500"),
        ("JPY", "1,500", 1500, "1500"),
    ],
)
def test_the_price_field_takes_currency_units_and_stores_minor_units(
    organiser, currency, typed, minor, shown
):
    event = EventFactory(organiser=organiser, currency=currency)
    ticket_type = TicketTypeFactory(event=event, price_minor=100)
    data = {
        "event": event.pk,
        "name": "Regular",
        "kind": "regular",
        "price_minor": typed,
        "min_per_order": 1,
        "max_per_order": 10,
        "position": 0,
        "is_active": "on",
    }

    form = TicketTypeForm(data, instance=ticket_type)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["price_minor"] == minor
    saved = form.save()
    assert TicketType.objects.get(pk=saved.pk).price_minor == minor
    # Shown back as typed, in units, with the currency beside the box.
    html = str(TicketTypeForm(instance=saved)["price_minor"])
    assert f'value="{shown}"' in html
    assert f'data-currency="{currency}"' in html


@pytest.mark.parametrize(
    ("currency", "typed", "message"),
    [
        ("JPY", "1500.50", "JPY amounts have no decimals."),
        ("EUR", "1,234.567", "EUR amounts have at most 2 decimals."),
        ("EUR", "ninety", "Enter an amount such as 90.00."),
        ("EUR", "-5", "The amount cannot be below 0.00."),
    ],
)
def test_amounts_the_currency_cannot_hold_are_refused(
    organiser, currency, typed, message
):
    event = EventFactory(organiser=organiser, currency=currency)
    ticket_type = TicketTypeFactory(event=event)
    form = TicketTypeForm(
        {"event": event.pk, "name": "x", "kind": "regular", "price_minor": typed},
        instance=ticket_type,
    )

    assert not form.is_valid()
    assert form.errors["price_minor"] == [message]


@pytest.mark.parametrize(
    ("currency", "typed", "minor", "listed"),
    [
        ("EUR", "90.00", 9000, "€90.00"),
        ("NGN", "15,000.00", 1500000, "₦15,000.00"),
        ("JPY", "1500", 1500, "¥1,500"),
    ],
)
def test_prices_round_trip_through_the_admin_change_form_and_list(
    client, manager, organiser, currency, typed, minor, listed
):
    event = EventFactory(organiser=organiser, currency=currency)
    ticket_type = TicketTypeFactory(event=event, price_minor=100)
    url = admin_url(TicketType, "change", ticket_type.pk)

    response = client.post(url, admin_form_data(client.get(url), price_minor=typed))

    assert response.status_code == 302, response.content.decode()[-2000:]
    ticket_type.refresh_from_db()
    assert ticket_type.price_minor == minor
    assert f'data-currency="{currency}"' in client.get(url).content.decode()
    listing = client.get(admin_url(TicketType, "changelist")).content.decode()
    assert listed in listing


def test_the_early_bird_price_is_in_units_too(client, manager, organiser):
    event = EventFactory(organiser=organiser, currency="EUR")
    SessionFactory(event=event)
    ticket_type = TicketTypeFactory(event=event, price_minor=9000)
    url = admin_url(TicketType, "change", ticket_type.pk)
    deadline = (timezone.now() + dt.timedelta(days=2)).date().isoformat()

    response = client.post(
        url,
        admin_form_data(
            client.get(url),
            early_bird_price_minor="75,50",
            early_bird_deadline_at_0=deadline,
            early_bird_deadline_at_1="12:00",
        ),
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    ticket_type.refresh_from_db()
    assert ticket_type.early_bird_price_minor == 7550
