"""Alerts: one open alert per kind and subject, emailed when new and at most once an
hour after that while it is seen again; checks by beat (stuck backlogs, refunds of
unknown outcome); the admin list, scoped to the organiser."""

import datetime as dt

import pytest
from django.core import mail
from django.db.models import F
from django.utils import timezone

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from payments.tests.factories import RefundFactory
from ticketing import alerts, health, outbox
from ticketing.alerts_checks import alerts_check
from ticketing.models import Alert, OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def organiser():
    organiser = OrganiserFactory()
    MembershipFactory(
        organiser=organiser, role=Membership.Role.OWNER, user__email="owner@x.org"
    )
    MembershipFactory(
        organiser=organiser, role=Membership.Role.STAFF, user__email="door@x.org"
    )
    UserFactory(is_superuser=True, email="root@x.org")
    return organiser


def _raise(organiser, django_capture_on_commit_callbacks, subject="session:1"):
    with django_capture_on_commit_callbacks(execute=True):
        return alerts.alert_raise(
            kind=Alert.Kind.OVERSOLD,
            organiser=organiser,
            subject=subject,
            message="Session 1 is oversold by 2.",
            link="/admin/events/session/1/change/",
        )


def test_raising_again_bumps_one_alert_and_mails_once_an_hour(
    organiser, django_capture_on_commit_callbacks
):
    first = _raise(organiser, django_capture_on_commit_callbacks)
    _raise(organiser, django_capture_on_commit_callbacks)
    _raise(organiser, django_capture_on_commit_callbacks)

    alert = Alert.objects.get()
    assert alert.pk == first.pk
    assert alert.count == 3
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["owner@x.org", "root@x.org"]
    assert "http://testserver/admin/events/session/1/change/" in mail.outbox[0].body

    def an_hour_passes(minutes):
        Alert.objects.filter(pk=alert.pk).update(
            emailed_at=F("emailed_at") - dt.timedelta(minutes=minutes)
        )
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.alerts_notify_due()

    assert an_hour_passes(59) == 0
    assert an_hour_passes(2) == 1  # 61 minutes after the first email
    assert len(mail.outbox) == 2
    assert "Seen 3 times" in mail.outbox[1].body
    # Nothing seen since that email: nothing more, however long it stays open.
    assert an_hour_passes(300) == 0
    assert len(mail.outbox) == 2


def test_a_resolved_alert_is_raised_anew_and_mailed_again(
    organiser, django_capture_on_commit_callbacks
):
    first = _raise(organiser, django_capture_on_commit_callbacks)
    assert alerts.alert_resolve(kind=Alert.Kind.OVERSOLD, subject="session:1") == 1

    second = _raise(organiser, django_capture_on_commit_callbacks)

    assert second.pk != first.pk
    assert Alert.objects.filter(resolved_at__isnull=True).get().pk == second.pk
    assert len(mail.outbox) == 2


def test_the_email_is_an_outbox_row_sent_once_however_often_it_is_handled(
    organiser,
):
    # No on-commit here: the kick never ran, as when the broker was down.
    alerts.alert_raise(
        kind=Alert.Kind.OVERSOLD,
        organiser=organiser,
        subject="session:9",
        message="oversold",
    )
    row = OutboxMessage.objects.get(kind=alerts.EMAIL_KIND)
    assert row.payload == {"alert_id": Alert.objects.get().pk}
    assert mail.outbox == []

    assert alerts_check() == 1  # queued again: coalesced into the same row
    assert OutboxMessage.objects.filter(kind=alerts.EMAIL_KIND).count() == 1
    assert outbox.dispatch() == 1  # beat's dispatch
    alerts.alert_email_handler(row)  # the same row handled a second time
    assert len(mail.outbox) == 1
    assert alerts_check() == 0


def test_a_stuck_backlog_alerts_the_site_admins_and_clears(
    organiser, monkeypatch, django_capture_on_commit_callbacks
):
    oldest = {"at": timezone.now() - dt.timedelta(minutes=12)}
    monkeypatch.setattr(health, "_backlogs", {})
    health.register_backlog("test_rows", lambda now: oldest["at"])

    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()

    alert = Alert.objects.get(kind=Alert.Kind.BACKLOG_STUCK)
    assert (alert.subject, alert.organiser_id) == ("backlog:test_rows", None)
    assert "12 minutes" in alert.message
    assert alert.link == "/admin/"  # the backlog registered no page of its own
    # Mailed at once, not queued behind the stuck work: no dispatch ran.
    assert mail.outbox[0].to == ["root@x.org"]
    assert mail.outbox[0].subject == "[Alert] Stored work not moving: backlog:test_rows"
    assert not OutboxMessage.objects.filter(kind=alerts.EMAIL_KIND).exists()

    oldest["at"] = None
    alerts_check()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_refund_of_unknown_outcome_after_a_day_alerts_its_organiser(organiser):
    refund = RefundFactory(organiser=organiser, status="pending")
    fresh = RefundFactory(organiser=organiser, status="pending")
    type(refund).objects.filter(pk=refund.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )

    alerts_check()
    outbox.dispatch()

    alert = Alert.objects.get(kind=Alert.Kind.REFUND_UNKNOWN)
    assert alert.subject == f"refund:{refund.pk}"
    assert alert.organiser_id == organiser.pk
    assert alert.link == f"/admin/payments/refund/{refund.pk}/change/"
    assert refund.payment.booking.reference in alert.message
    assert not Alert.objects.filter(subject=f"refund:{fresh.pk}").exists()
    assert sorted(mail.outbox[0].to) == ["owner@x.org", "root@x.org"]

    type(refund).objects.filter(pk=refund.pk).update(status="succeeded")
    alerts_check()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_admin_lists_an_organisers_own_alerts_only(client, organiser):
    other = OrganiserFactory()
    mine = Alert.objects.create(
        kind=Alert.Kind.OVERSOLD,
        organiser_id=organiser.pk,
        subject="session:1",
        message="mine",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    Alert.objects.create(
        kind=Alert.Kind.OVERSOLD,
        organiser_id=other.pk,
        subject="session:2",
        message="theirs",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    owner = Membership.objects.get(organiser=organiser, role="owner").user
    client.force_login(owner)

    page = client.get("/admin/ticketing/alert/")

    assert page.status_code == 200
    assert "session:1" in page.content.decode()
    assert "session:2" not in page.content.decode()
    response = client.post(
        "/admin/ticketing/alert/",
        {"action": "resolve", "_selected_action": [mine.pk]},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.resolved_at is not None


def test_a_stuck_outbox_links_to_its_pending_rows_and_is_mailed_without_it(
    organiser, django_capture_on_commit_callbacks
):
    OutboxMessage.objects.create(
        kind="test.kind", next_attempt_at=timezone.now() - dt.timedelta(minutes=20)
    )

    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()

    alert = Alert.objects.get(kind=Alert.Kind.BACKLOG_STUCK, subject="backlog:outbox")
    assert alert.link == "/admin/ticketing/outboxmessage/?status__exact=pending"
    assert len(mail.outbox) == 1
    assert "http://testserver/admin/ticketing/outboxmessage/?status__exact=pending" in (
        mail.outbox[0].body
    )
    assert not OutboxMessage.objects.filter(kind=alerts.EMAIL_KIND).exists()


def test_a_stuck_backlog_whose_email_fails_is_mailed_by_the_next_check(
    organiser, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(health, "_backlogs", {})
    health.register_backlog("test_rows", lambda now: now - dt.timedelta(minutes=30))

    def smtp_down(**kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(alerts, "send_mail", smtp_down)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
    alert = Alert.objects.get(kind=Alert.Kind.BACKLOG_STUCK)
    assert alert.emailed_at is None  # not marked as told

    monkeypatch.undo()
    monkeypatch.setattr(health, "_backlogs", {})
    health.register_backlog("test_rows", lambda now: now - dt.timedelta(minutes=35))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
    assert len(mail.outbox) == 1
    alert.refresh_from_db()
    assert alert.emailed_at is not None


def _dead(kind, organiser_id=None, **fields):
    return OutboxMessage.objects.create(
        kind=kind,
        organiser_id=organiser_id,
        status=OutboxMessage.Status.DEAD,
        attempts=5,
        last_error="550 mailbox unavailable",
        next_attempt_at=timezone.now(),
        **fields,
    )


def test_dead_outbox_rows_make_one_alert_per_kind_and_organiser_until_retried(
    organiser, django_capture_on_commit_callbacks
):
    rows = [
        _dead("notifications.email", organiser.pk, key=f"booking:{n}") for n in range(3)
    ]
    _dead("notifications.email")  # site-wide: an alert of its own
    _dead(alerts.EMAIL_KIND, organiser.pk)  # an alert's own email: never alerted

    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
        alerts_check()  # seen again: the same alerts, bumped

    open_alerts = Alert.objects.filter(
        kind=Alert.Kind.DELIVERY_EXHAUSTED, resolved_at__isnull=True
    )
    assert sorted(open_alerts.values_list("subject", flat=True)) == [
        f"outbox:notifications.email:organiser:{organiser.pk}",
        "outbox:notifications.email:site",
    ]
    mine = open_alerts.get(organiser_id=organiser.pk)
    assert mine.count == 2
    assert mine.message.startswith("3 notifications.email row(s) given up")
    assert "booking:2, 5 attempts: 550 mailbox unavailable" in mine.message
    assert mine.link == (
        "/admin/ticketing/outboxmessage/"
        "?status__exact=dead&kind__exact=notifications.email"
    )
    outbox.dispatch()
    assert sorted(len(m.to) for m in mail.outbox) == [1, 2]  # site; owner + root

    # A person retries them and they go through: the organiser's alert closes.
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=OutboxMessage.Status.DONE
    )
    alerts_check()
    mine.refresh_from_db()
    assert mine.resolved_at is not None
    assert open_alerts.get().subject == "outbox:notifications.email:site"


def test_the_alert_counter_counts_committed_raises_only(
    organiser, django_capture_on_commit_callbacks
):
    from django.db import transaction
    from prometheus_client import REGISTRY

    def counted():
        return (
            REGISTRY.get_sample_value(
                "ticketing_alerts_raised_total", {"kind": "oversold"}
            )
            or 0.0
        )

    before = counted()
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                alerts.alert_raise(
                    kind=Alert.Kind.OVERSOLD,
                    organiser=organiser,
                    subject="session:1",
                    message="oversold",
                )
                raise RuntimeError("the caller's work failed: rolled back")
        except RuntimeError:
            pass
    assert counted() == before
    assert not Alert.objects.exists()

    _raise(organiser, django_capture_on_commit_callbacks)
    _raise(organiser, django_capture_on_commit_callbacks)
    assert counted() == before + 2


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("stripe_catalog_failing", "Stripe catalogue push failing"),
        ("xero.push_failed", "Xero refused a document"),
        ("xero.connection_broken", "Xero connection broken"),
    ],
)
def test_every_kind_raised_has_a_label_in_the_email_and_the_admin(
    organiser, client, django_capture_on_commit_callbacks, kind, label
):
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alert_raise(
            kind=kind, organiser=organiser, subject="xero:1", message="refused"
        )
    outbox.dispatch()

    assert mail.outbox[0].subject == f"[Alert] {label}: xero:1"
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    page = client.get("/admin/ticketing/alert/").content.decode()
    assert label in page
