"""The sync's health in the back office, its dashboard alert, and "Resync all"."""

import pytest

from events.models import Membership
from events.tests.factories import EventFactory, MembershipFactory, TicketTypeFactory
from integrations.stripe_catalog.models import CatalogSyncLog
from integrations.stripe_catalog.services import ALERT_KIND, KIND
from ticketing.models import AuditEntry, OutboxMessage

from .conftest import run_pushes

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/stripe_catalog/catalogsynclog/"


def _member(client, organiser, role):
    member = MembershipFactory(organiser=organiser, role=role)
    client.force_login(member.user)
    return member.user


def _health(html: str) -> str:
    start = html.index('id="stripe-catalog-health"')
    return html[start : html.index("</table>", start)]


def test_health_counts_successes_and_failures_and_success_clears_the_alert(
    client, account, platform
):
    organiser, acct = account
    TicketTypeFactory(event=EventFactory(organiser=organiser, title="Opera"))
    platform.fail_next(503)
    run_pushes(rounds=1)  # the event fails once, the ticket type pushes it
    run_pushes()
    _member(client, organiser, Membership.Role.MANAGER)

    page = client.get(CHANGELIST).content.decode()

    health = _health(page)
    assert f"<td>{organiser.name}</td>" in health
    assert '<td class="successes">2</td>' in health
    assert '<td class="failures">1</td>' in health
    assert "Resync all" in health
    home = client.get("/admin/").content.decode()
    assert f'data-kind="{ALERT_KIND}"' not in home  # the event went through since


def test_alert_stays_while_the_push_keeps_failing(client, account, platform):
    organiser, acct = account
    EventFactory(organiser=organiser)
    platform.fail_next(503, times=3)
    run_pushes(rounds=2)
    assert CatalogSyncLog.objects.filter(status="failed").count() == 2
    _member(client, organiser, Membership.Role.VIEWER)
    home = client.get("/admin/").content.decode()
    assert f'data-kind="{ALERT_KIND}"' in home


def test_resync_button_queues_every_object_once_even_twice(client, account, platform):
    organiser, acct = account
    event = EventFactory(organiser=organiser)
    TicketTypeFactory(event=event)
    TicketTypeFactory(event=event)
    run_pushes()
    user = _member(client, organiser, Membership.Role.OWNER)
    url = f"{CHANGELIST}resync/{organiser.pk}/"

    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302

    rows = OutboxMessage.objects.filter(kind=KIND, status="pending")
    assert rows.count() == 3
    assert all(row.payload["force"] for row in rows)
    assert (
        AuditEntry.objects.filter(action="stripe_catalog.resync", actor=user).count()
        == 2
    )
    run_pushes()
    assert len(platform.products_on(acct)) == 1
    assert len(platform.prices_on(acct)) == 2
    assert platform.calls["products.create"] == 1


def test_a_viewer_or_another_organiser_cannot_resync(client, account):
    organiser, acct = account
    EventFactory(organiser=organiser)
    run_pushes()
    _member(client, organiser, Membership.Role.VIEWER)
    assert client.post(f"{CHANGELIST}resync/{organiser.pk}/").status_code == 403
    other = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(other.user)
    assert client.post(f"{CHANGELIST}resync/{organiser.pk}/").status_code == 403
    assert not OutboxMessage.objects.filter(kind=KIND, status="pending").exists()
    page = client.get(CHANGELIST).content.decode()
    assert organiser.name not in _health(page)
