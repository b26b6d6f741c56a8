"""One meaning of "upcoming" (not ended) and "on sale" for pages, API and admin.

A session that has started but not ended is listed everywhere, but sold nowhere; one
that has ended is listed nowhere. Each surface reads the same selectors.
"""

import datetime as dt

import pytest
from django.utils import timezone

from bookings.selectors import availability_invalidate
from events.models import Session
from events.tests.factories import (
    EventFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
    VenueFactory,
)
from partner_api.tests.api_fixtures import api_key, get

pytestmark = pytest.mark.django_db


def _session(event, city: str, starts_in: dt.timedelta, hours: int = 3) -> Session:
    starts_at = timezone.now() + starts_in
    return SessionFactory(
        event=event,
        venue=VenueFactory(organiser=event.organiser, city=city, name=f"Hall {city}"),
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=hours),
    )


@pytest.fixture
def sessions():
    event = EventFactory(title="Masterclass", slug="masterclass")
    TicketTypeFactory(event=event, name="Regular", price_minor=4500)
    return {
        "event": event,
        "started": _session(event, "Startedville", -dt.timedelta(hours=1)),
        "ended": _session(event, "Endedton", -dt.timedelta(days=1)),
        "later": _session(event, "Laterburg", dt.timedelta(days=10)),
    }


def _page_sessions(client, url: str, sessions: dict) -> set[str]:
    availability_invalidate(Session.objects.values_list("pk", flat=True))
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    return {
        name
        for name in ("started", "ended", "later")
        if sessions[name].venue.city in page
    }


def _names(sessions: dict, pks) -> set[str]:
    by_pk = {sessions[name].pk: name for name in ("started", "ended", "later")}
    return {by_pk[pk] for pk in pks}


def _admin_pks(response) -> list[int]:
    assert response.status_code == 200
    return [session.pk for session in response.context["cl"].result_list]


def test_pages_api_and_admin_list_the_same_upcoming_sessions(client, sessions):
    event = sessions["event"]
    plain = api_key(event.organiser, scopes=("read",))

    listed = _page_sessions(client, "/", sessions)
    detail = _page_sessions(client, f"/e/{event.slug}/", sessions)
    api = get(client, f"/api/v1/events/{event.slug}/", plain).json()
    api_listed = get(client, "/api/v1/events/", plain).json()
    client.force_login(UserFactory(is_superuser=True))
    admin = client.get("/admin/events/session/", {"when": "upcoming"})
    ended_admin = client.get("/admin/events/session/", {"when": "ended"})

    upcoming = {"started", "later"}
    assert detail == upcoming
    assert listed == upcoming
    assert _names(sessions, [s["id"] for s in api["sessions"]]) == upcoming
    (api_event,) = api_listed["results"]
    assert _names(sessions, [s["id"] for s in api_event["sessions"]]) == upcoming
    assert _names(sessions, _admin_pks(admin)) == upcoming
    assert _names(sessions, _admin_pks(ended_admin)) == {"ended"}


def test_a_started_session_is_listed_but_on_sale_nowhere(client, sessions):
    event = sessions["event"]
    plain = api_key(event.organiser, scopes=("read",))

    api = get(client, f"/api/v1/events/{event.slug}/", plain).json()
    availability = get(
        client, f"/api/v1/sessions/{sessions['started'].pk}/availability/", plain
    ).json()
    checkout = client.get(f"/e/{event.slug}/checkout/")
    client.force_login(UserFactory(is_superuser=True))
    admin = client.get("/admin/events/session/", {"when": "on_sale"})

    on_sale = {s["id"]: s["on_sale"] for s in api["sessions"]}
    assert on_sale == {sessions["started"].pk: False, sessions["later"].pk: True}
    assert [t["on_sale"] for t in availability["ticket_types"]] == [False]
    offered = {pk for pk, _label in checkout.context["form"].fields["session"].choices}
    assert _names(sessions, offered) == {"later"}
    assert _names(sessions, _admin_pks(admin)) == {"later"}
