"""The buyer pages: `/` (events) and `/e/<slug>/` (sessions, prices, availability)."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from bookings.selectors import availability_invalidate
from events.models import Event, Session
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)
from ticketing.lib.money import Money

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _in_days(days: int, hour: int = 20, tz=PARIS) -> dt.datetime:
    day = timezone.localdate(timezone=tz) + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz)


def _session(event, city="Paris", days=30, hour=20, **kwargs):
    venue = VenueFactory(organiser=event.organiser, city=city, name=f"Hall {city}")
    starts_at = _in_days(days, hour, event.tzinfo)
    return SessionFactory(
        event=event,
        venue=venue,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
        **kwargs,
    )


def _get(client, url):
    # Availability is cached in the shared Redis by session id; start from the database.
    availability_invalidate(Session.objects.values_list("pk", flat=True))
    return client.get(url)


def _text(response) -> str:
    return " ".join(response.content.decode().split())


# The event list


def test_list_shows_published_events_with_upcoming_sessions_only(client):
    published = EventFactory(title="Masterclass")
    _session(published)
    draft = EventFactory(title="Secret draft", status=Event.Status.DRAFT)
    _session(draft)
    cancelled = EventFactory(title="Called off", status=Event.Status.CANCELLED)
    _session(cancelled)
    past = EventFactory(title="Last year")
    _session(past, days=-10)

    response = _get(client, "/")

    assert response.status_code == 200
    page = _text(response)
    assert "Masterclass" in page
    assert f'href="/e/{published.slug}/"' in page
    for hidden in ("Secret draft", "Called off", "Last year"):
        assert hidden not in page


def test_list_shows_next_sessions_in_the_event_timezone(client):
    event = EventFactory(title="Masterclass")
    session = _session(event, city="Lyon", days=30, hour=20)
    _session(event, city="Paris", days=-1)  # over: not shown

    response = _get(client, "/")

    page = _text(response)
    local = session.starts_at.astimezone(PARIS)
    assert "Lyon" in page
    assert f"{date_format(local, 'DATE_FORMAT')}, 20:00" in page
    assert response.context["events"][0].upcoming_sessions == [session]
    assert "Paris" not in page


def test_list_orders_events_by_their_next_session(client):
    later = EventFactory(title="Later event")
    _session(later, days=50)
    sooner = EventFactory(title="Sooner event")
    _session(sooner, days=10)

    page = _text(_get(client, "/"))

    assert page.index("Sooner event") < page.index("Later event")


def test_list_filters_by_city_case_insensitively(client):
    touring = EventFactory(title="Touring show")
    _session(touring, city="Paris", days=20)
    lyon = _session(touring, city="Lyon", days=40)
    paris_only = EventFactory(title="Paris only")
    _session(paris_only, city="Paris")

    response = _get(client, "/?city=lyon")

    page = _text(response)
    assert "Touring show" in page
    assert "Paris only" not in page
    # Only the Lyon date of the touring show is listed under the filter.
    assert [s.pk for s in response.context["events"][0].upcoming_sessions] == [lyon.pk]
    assert response.context["city"] == "Lyon"
    assert '<option value="Lyon" selected>' in page


def test_list_city_filter_without_events_says_so(client):
    _session(EventFactory(), city="Paris")

    page = _text(_get(client, "/?city=Nantes"))

    assert "No upcoming events in Nantes." in page


def test_list_shows_the_lowest_current_price(client):
    event = EventFactory(title="Masterclass")
    _session(event)
    TicketTypeFactory(event=event, price_minor=9000)
    TicketTypeFactory(
        event=event,
        price_minor=9000,
        early_bird_price_minor=6500,
        early_bird_deadline_at=_in_days(10),
    )
    TicketTypeFactory(event=event, price_minor=1000, is_active=False)

    page = _text(_get(client, "/"))

    assert "From 65.00 EUR" in page


# The event page


@pytest.fixture
def masterclass():
    event = EventFactory(
        title="Masterclass",
        slug="masterclass",
        description="Three pianists, one stage.",
    )
    paris = _session(event, city="Paris", days=30, hour=14, capacity=100)
    lyon = _session(event, city="Lyon", days=45, hour=14, capacity=50)
    regular = TicketTypeFactory(event=event, name="Regular", price_minor=9000)
    early = TicketTypeFactory(
        event=event,
        name="Early bird",
        price_minor=9000,
        early_bird_price_minor=6500,
        early_bird_deadline_at=_in_days(15, 23),
        allocation=12,
    )
    group = TicketTypeFactory(
        event=event,
        name="Group",
        price_minor=9000,
        group_min_quantity=5,
        group_discount_percent=Decimal("10.00"),
    )
    free = TicketTypeFactory(event=event, name="Open rehearsal", price_minor=0)
    return {
        "event": event,
        "paris": paris,
        "lyon": lyon,
        "regular": regular,
        "early": early,
        "group": group,
        "free": free,
    }


def test_detail_shows_event_sessions_prices_and_availability(client, masterclass):
    event = masterclass["event"]

    response = _get(client, "/e/masterclass/")

    assert response.status_code == 200
    page = _text(response)
    assert "<h1" in page
    assert "Masterclass" in page
    assert "Three pianists, one stage." in page
    assert "90.00 EUR" in page
    assert "Free" in page
    assert "10% off from 5 tickets" in page
    assert "100 left" in page  # session capacity, for types without an allocation
    assert "12 left" in page  # the early-bird allocation
    for key in ("paris", "lyon"):
        href = f'href="/e/{event.slug}/checkout/?session={masterclass[key].pk}"'
        assert href in page


def test_detail_shows_early_bird_with_local_deadline_and_struck_regular_price(
    client, masterclass
):
    page = _text(_get(client, "/e/masterclass/"))

    deadline = masterclass["early"].early_bird_deadline_at.astimezone(PARIS)
    assert "65.00 EUR" in page
    assert "Regular price:" in page
    assert '<del class="price price--regular">' in page
    until = f"Early-bird price until {date_format(deadline, 'DATE_FORMAT')}, 23:00"
    assert until in page


def test_detail_after_the_early_bird_shows_the_regular_price(client, masterclass):
    early = masterclass["early"]
    early.early_bird_deadline_at = timezone.now() - dt.timedelta(minutes=1)
    early.save()

    page = _text(_get(client, "/e/masterclass/"))

    assert "65.00 EUR" not in page
    assert "<del" not in page


def test_detail_groups_sessions_by_city_then_local_date(client, masterclass):
    event = masterclass["event"]
    # Same Paris day, 23:00 local (22:00 or 21:00 UTC): still the same local date.
    late = _session(event, city="Paris", days=30, hour=23)

    response = _get(client, "/e/masterclass/")

    groups = response.context["city_groups"]
    assert [group.city for group in groups] == ["Paris", "Lyon"]
    paris_days = groups[0].dates
    assert len(paris_days) == 1
    assert paris_days[0].date == masterclass["paris"].starts_at.astimezone(PARIS).date()
    assert [row.session.pk for row in paris_days[0].rows] == [
        masterclass["paris"].pk,
        late.pk,
    ]
    page = _text(response)
    assert "14:00" in page
    assert "23:00" in page


def test_detail_labels_a_full_session_sold_out_and_offers_no_booking(
    client, masterclass
):
    paris = masterclass["paris"]
    Session.objects.filter(pk=paris.pk).update(sold_count=paris.capacity)

    response = _get(client, "/e/masterclass/")

    page = _text(response)
    assert "Sold out" in page
    assert f"checkout/?session={paris.pk}" not in page
    assert f"checkout/?session={masterclass['lyon'].pk}" in page
    paris_row = response.context["city_groups"][0].dates[0].rows[0]
    assert paris_row.state == "sold_out"
    assert {offer.state for offer in paris_row.offers} == {"sold_out"}


def test_detail_counts_external_sales(client, masterclass):
    lyon = masterclass["lyon"]
    Session.objects.filter(pk=lyon.pk).update(sold_count=20, external_sold_count=25)

    page = _text(_get(client, "/e/masterclass/"))

    assert "5 left" in page


def test_detail_hides_inactive_ticket_types_and_past_sessions(client, masterclass):
    event = masterclass["event"]
    TicketTypeFactory(event=event, name="Retired ticket", is_active=False)
    old = _session(event, city="Marseille", days=-3)

    page = _text(_get(client, "/e/masterclass/"))

    assert "Retired ticket" not in page
    assert "Marseille" not in page
    assert f"session={old.pk}" not in page


def test_detail_lists_a_long_run_of_dates_a_page_at_a_time(client):
    event = EventFactory(slug="long-run")
    venue = VenueFactory(organiser=event.organiser, city="Paris")
    TicketTypeFactory(event=event)
    dates = [
        SessionFactory(event=event, venue=venue, starts_at=_in_days(day))
        for day in range(1, 46)
    ]

    first = client.get("/e/long-run/")
    second = client.get("/e/long-run/?page=2")
    beyond = client.get("/e/long-run/?page=99")

    first_text, second_text = _text(first), _text(second)
    assert f"session={dates[0].pk}" in first_text
    assert f"session={dates[39].pk}" in first_text
    assert f"session={dates[40].pk}" not in first_text
    assert "Dates 1–40 of 45" in first_text
    assert "Later dates" in first_text
    assert f"session={dates[40].pk}" in second_text
    assert f"session={dates[44].pk}" in second_text
    assert f"session={dates[0].pk}" not in second_text
    assert "Earlier dates" in second_text
    assert "Later dates" not in second_text
    # A page past the end shows the last one rather than an error.
    assert beyond.status_code == 200
    assert f"session={dates[44].pk}" in _text(beyond)


def test_detail_shows_paused_sessions_without_booking(client, masterclass):
    lyon = masterclass["lyon"]
    Session.objects.filter(pk=lyon.pk).update(sale_status=Session.SaleStatus.PAUSED)

    page = _text(_get(client, "/e/masterclass/"))

    assert "Sales paused" in page
    assert f"checkout/?session={lyon.pk}" not in page


def test_detail_shows_when_a_ticket_type_goes_on_sale(client):
    event = EventFactory(slug="soon")
    session = _session(event)
    opens = _in_days(3, 10)
    TicketTypeFactory(event=event, name="Later", sales_start_at=opens)

    page = _text(_get(client, "/e/soon/"))

    assert f"On sale from {date_format(opens, 'DATE_FORMAT')}, 10:00" in page
    assert f"checkout/?session={session.pk}" not in page


def test_detail_formats_zero_decimal_currencies(client):
    organiser = OrganiserFactory(currency="JPY", timezone="Asia/Tokyo", country="JP")
    event = EventFactory(organiser=organiser, slug="tokyo")
    _session(event, city="Tokyo")
    TicketTypeFactory(event=event, price_minor=4500)

    page = _text(_get(client, "/e/tokyo/"))

    assert "4,500 JPY" in page


@pytest.mark.parametrize(
    "status", [Event.Status.DRAFT, Event.Status.CANCELLED, Event.Status.ARCHIVED]
)
def test_detail_is_404_unless_published(client, status):
    event = EventFactory(slug="hidden", status=status)
    _session(event)

    assert _get(client, "/e/hidden/").status_code == 404


def test_detail_is_404_for_an_unknown_slug(client):
    assert client.get("/e/nothing-here/").status_code == 404


# Queries: a fixed number, however many sessions and ticket types


def _catalogue(events=3, sessions=4, ticket_types=4):
    cities = ["Paris", "Lyon", "Bordeaux", "Lille", "Nantes", "Nice"]
    for _index in range(events):
        event = EventFactory()
        for number in range(sessions):
            _session(event, city=cities[number % len(cities)], days=10 + number)
        for _ in range(ticket_types):
            TicketTypeFactory(event=event, allocation=20)
    return event


def test_list_page_queries_do_not_grow_with_the_catalogue(
    client, django_assert_max_num_queries
):
    _catalogue(events=1, sessions=1, ticket_types=1)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/").status_code == 200
    _catalogue(events=4, sessions=5, ticket_types=4)

    with django_assert_max_num_queries(len(small)):
        response = client.get("/")
    assert len(response.context["events"]) == 5
    with django_assert_max_num_queries(len(small)):
        assert client.get("/?city=Lyon").status_code == 200


def test_detail_page_queries_do_not_grow_with_the_catalogue(
    client, django_assert_max_num_queries
):
    event = _catalogue(events=1, sessions=6, ticket_types=5)
    url = f"/e/{event.slug}/"
    # Cold availability cache: counting seats takes a query or two per session, in
    # bookings.availability; the page itself adds a fixed few.
    availability_invalidate(Session.objects.values_list("pk", flat=True))
    with django_assert_max_num_queries(4 + 2 * 6):
        assert client.get(url).status_code == 200
    # Warm cache, as buyers mostly see it: a fixed number of queries.
    with django_assert_max_num_queries(3):
        response = client.get(url)
    assert response.context["session_count"] == 6


# The money filter


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ 4500|money:"EUR" }}', "45.00 EUR"),
        ('{{ 123456|money:"eur" }}', "1,234.56 EUR"),
        ('{{ 4500|money:"JPY" }}', "4,500 JPY"),
        ('{{ 1500|money:"KWD" }}', "1.500 KWD"),
        ('{{ 0|money:"NGN" }}', "0.00 NGN"),
        ("{{ amount|money }}", "12.34 GBP"),
        ('{{ missing|money:"EUR" }}', ""),
        ('{{ "abc"|money:"EUR" }}', ""),
        ("{{ 4500|money }}", ""),
    ],
)
def test_money_filter(template, expected):
    rendered = Template("{% load money %}" + template).render(
        Context({"amount": Money(1234, "GBP")})
    )
    assert rendered == expected
