"""The dashboard on the admin home."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking
from events.models import Membership
from events.tests.factories import (
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    UserFactory,
)
from integrations.models import Platform
from integrations.tests.factories import ConnectionFactory, OversoldAlertFactory
from payments.tests.factories import RefundFactory

from .world import events_with_sales, platform_sale, sale

pytestmark = pytest.mark.django_db


def _member(client, organiser, role=Membership.Role.VIEWER):
    member = MembershipFactory(organiser=organiser, role=role)
    client.force_login(member.user)
    return member.user


def _dashboard(html: str) -> str:
    start = html.index('<section class="bo-dashboard"')
    return html[start : html.index("</section>", start)]


def test_the_admin_home_shows_sales_fill_by_channel_and_a_chart(client):
    session = SessionFactory(capacity=20, event__title="Jazz night")
    sale(session, 2, 9000)  # web
    sale(session, 1, 4500, channel="api")
    sale(session, 1, 4000, channel="admin")
    sale(session, 2, 0, channel="admin", comp=True)
    sale(session, 3, 13500, when=timezone.now() - dt.timedelta(days=10))
    sale(session, 1, 4500, status=Booking.Status.PENDING)  # held
    platform_sale(session, 4, Platform.HUMANITIX)
    platform_sale(session, 1, Platform.EVENTBRITE)
    theirs = SessionFactory(event__title="Someone else's")
    sale(theirs, 7, 70000)
    _member(client, session.event.organiser)

    page = _dashboard(client.get("/admin/").content.decode())

    # Today: 2 + 1 + 1 + 2 comps = 6 tickets for 175.00; 30 days adds 3 for 135.00.
    assert (
        '<tr data-currency="EUR"><th scope="row">Tickets sold here (EUR)</th>'
        "<td>6</td><td>6</td><td>9</td></tr>"
    ) in page
    assert (
        '<th scope="row">Revenue (EUR)</th>'
        "<td>175.00 EUR</td><td>175.00 EUR</td><td>310.00 EUR</td>"
    ) in page
    row = page[page.index(f'data-session="{session.pk}"') :]
    row = row[: row.index("</tr>")]
    for channel, count in [
        ("web", 5),
        ("api", 1),
        ("admin", 1),
        ("comp", 2),
        ("billetweb", 0),
        ("humanitix", 4),
        ("eventbrite", 1),
        ("held", 1),
    ]:
        assert f'<td data-channel="{channel}">{count}</td>' in row, channel
    assert '<svg class="fill-bar"' in row
    assert "15 of 20 seats taken" in row
    chart = page[page.index(f'data-event="{session.event.pk}"') :]
    assert "Jazz night" in chart[:200]
    assert '<svg class="daily-chart"' in chart
    assert 'class="ch-humanitix"' in chart
    assert "Someone else" not in page
    assert 'style="' not in page  # the CSP refuses inline style


def test_alerts_that_need_action(client):
    organiser = OrganiserFactory()
    session = SessionFactory(event__organiser=organiser)
    OversoldAlertFactory(session=session)
    ConnectionFactory(organiser=organiser, last_error="401 from Billetweb")
    RefundFactory(organiser=organiser, status="pending", last_error="timeout")
    flagged = sale(session, 1, 4500, needs_attention=True)
    OversoldAlertFactory()  # another organiser's
    _member(client, organiser)

    page = _dashboard(client.get("/admin/").content.decode())

    assert page.count('data-kind="oversold"') == 1
    assert "2 over capacity" in page
    assert page.count('data-kind="sync"') == 1
    assert "401 from Billetweb" in page
    assert page.count('data-kind="refund"') == 1
    assert "outcome unknown" in page
    assert f"Booking {flagged.reference} needs attention" in page


def test_a_refund_pending_for_a_day_without_an_error_is_shown_like_its_alert(
    client,
):
    from payments.alerting import refunds_unknown_check

    organiser = OrganiserFactory()
    stale = RefundFactory(organiser=organiser, status="pending")
    RefundFactory(organiser=organiser, status="pending")  # asked for just now
    type(stale).objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    refunds_unknown_check(timezone.now())  # the alert that emails about it
    _member(client, organiser)

    page = _dashboard(client.get("/admin/").content.decode())

    assert page.count('data-kind="refund"') == 1
    assert stale.payment.booking.reference in page
    assert 'data-kind="refund_unknown"' not in page  # not listed twice


def test_open_alerts_of_other_kinds_are_listed_with_a_link(client):
    from ticketing.tests.factories import AlertFactory

    organiser = OrganiserFactory()
    mine = AlertFactory(
        organiser_id=organiser.pk, kind="delivery_exhausted", subject="outbox:7"
    )
    AlertFactory(organiser_id=organiser.pk, kind="oversold")  # listed above already
    AlertFactory(kind="delivery_exhausted", subject="outbox:8")  # site-wide
    AlertFactory(
        organiser_id=organiser.pk,
        kind="webhook_exhausted",
        resolved_at=timezone.now(),
    )
    _member(client, organiser)

    page = _dashboard(client.get("/admin/").content.decode())

    assert page.count('data-kind="delivery_exhausted"') == 1
    assert f'href="/admin/ticketing/alert/{mine.pk}/change/"' in page
    assert "outbox:8" not in page
    assert 'data-kind="webhook_exhausted"' not in page


def test_a_superuser_sees_every_organiser_and_can_filter(client):
    first = SessionFactory(event__title="First org show")
    second = SessionFactory(event__title="Second org show")
    sale(first, 1, 1000)
    sale(second, 1, 1000)
    client.force_login(UserFactory(is_superuser=True))
    everything = _dashboard(client.get("/admin/").content.decode())
    assert "First org show" in everything
    assert "Second org show" in everything
    only = _dashboard(
        client.get("/admin/", {"organiser": first.event.organiser_id}).content.decode()
    )
    assert "First org show" in only
    assert "Second org show" not in only


def test_a_member_cannot_filter_their_way_into_another_organiser(client):
    mine = SessionFactory(event__title="Mine")
    theirs = SessionFactory(event__title="Theirs")
    sale(theirs, 1, 1000)
    _member(client, mine.event.organiser)
    page = _dashboard(
        client.get("/admin/", {"organiser": theirs.event.organiser_id}).content.decode()
    )
    assert "Theirs" not in page
    assert "Mine" in page


def _dashboard_queries(client, organiser) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/")
    assert response.status_code == 200
    return len(queries)


def test_the_dashboard_runs_a_constant_number_of_queries(
    client, django_assert_max_num_queries
):
    organiser = OrganiserFactory()
    _member(client, organiser)
    events_with_sales(organiser, 3)
    client.get("/admin/")  # warm the session and content-type caches
    with_3 = _dashboard_queries(client, organiser)

    events_with_sales(organiser, 27)
    with django_assert_max_num_queries(with_3):
        page = client.get("/admin/").content.decode()
    assert page.count('<svg class="fill-bar"') == 12  # the upcoming dates shown
    assert page.count('<svg class="daily-chart"') == 6
    assert with_3 <= 20


def test_upcoming_sessions_are_those_not_ended_as_everywhere_else():
    """The dashboard's "next sessions" use the one selector: a session ending at this
    very moment has ended (as on the event page and in the API)."""
    from backoffice.scope import Scope
    from backoffice.selectors import dashboard_get

    now = timezone.now()
    ending_now = SessionFactory(
        starts_at=now - dt.timedelta(hours=2), ends_at=now, event__title="Over"
    )
    organiser = ending_now.event.organiser
    running = SessionFactory(
        event=ending_now.event,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(seconds=1),
    )
    scope = Scope(organiser_ids=[organiser.pk], organisers=[organiser], selected=None)

    listed = [fill.session for fill in dashboard_get(scope, now=now).sessions]

    assert listed == [running]
