"""Alerts from syncs against the fake Billetweb over real HTTP: three failed syncs in
a row raise one alert (mailed to the organiser's owners and managers and the site
admins), the next success resolves it; an oversold session raises one too."""

from __future__ import annotations

import pytest
from django.core import mail

from bookings.tests.factories import BookingFactory
from events.models import Membership, Session
from events.tests.factories import MembershipFactory, UserFactory
from integrations.tests.test_sync import _listing, _sync, connection, fake  # noqa: F401
from ticketing.models import Alert

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(connection):  # noqa: F811
    organiser = connection.organiser
    return {
        "owner": MembershipFactory(
            organiser=organiser, role=Membership.Role.OWNER, user__email="o@x.org"
        ),
        "manager": MembershipFactory(
            organiser=organiser, role=Membership.Role.MANAGER, user__email="m@x.org"
        ),
        "staff": MembershipFactory(
            organiser=organiser, role=Membership.Role.STAFF, user__email="s@x.org"
        ),
        "admin": UserFactory(is_superuser=True, email="root@x.org"),
    }


def test_three_failed_syncs_in_a_row_raise_one_alert_and_a_success_resolves_it(
    fake,  # noqa: F811
    connection,  # noqa: F811
    people,
):
    listing = _listing(fake, connection, sold=2)
    assert _sync(connection).status == "success"
    fake.fail_always("malformed")

    assert _sync(connection, force=True).status == "failed"
    assert _sync(connection, force=True).status == "failed"
    assert not Alert.objects.exists()
    assert _sync(connection, force=True).status == "failed"

    alert = Alert.objects.get()
    assert (alert.kind, alert.subject) == (
        "sync_failing",
        f"connection:{connection.pk}",
    )
    assert alert.organiser_id == connection.organiser_id
    assert alert.link == f"/admin/integrations/connection/{connection.pk}/change/"
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["m@x.org", "o@x.org", "root@x.org"]
    assert f"connection:{connection.pk}" in mail.outbox[0].subject
    assert alert.link in mail.outbox[0].body

    assert _sync(connection, force=True).status == "failed"  # seen again: no mail
    alert.refresh_from_db()
    assert alert.count == 2
    assert len(mail.outbox) == 1

    fake.clear_faults()
    assert _sync(connection, force=True).status == "success"
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert listing.pk


def test_an_oversold_session_raises_an_alert_resolved_with_the_oversell(
    fake,  # noqa: F811
    connection,  # noqa: F811
    people,
):
    listing = _listing(fake, connection, capacity=10, quota=50, sold=0)
    session = Session.objects.get(pk=listing.session_id)
    BookingFactory(session=session, quantity=8, status="confirmed")
    Session.objects.filter(pk=session.pk).update(sold_count=8)
    order_id = fake.sell(listing.external_event_id, listing.external_date_id, 5)

    _sync(connection)
    _sync(connection, force=True)

    alert = Alert.objects.get(kind="oversold")
    assert alert.subject == f"session:{session.pk}"
    assert alert.count == 2
    assert "oversold by 3" in alert.message
    assert alert.link == f"/admin/events/session/{session.pk}/change/"
    assert len(mail.outbox) == 1

    for attendee_id in fake.attendee_ids(order_id)[:3]:
        fake.refund(attendee_id)
    _sync(connection, force=True)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
