"""A hold that expires unpaid tells the buyer, once (issue 18, item 5): the notice
and its outbox row are written in the expiry batch's own transaction (issue 17), so
they commit with the expiry or not at all."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from bookings import signals
from bookings.models import Booking
from bookings.services import booking_expire_stale
from bookings.tests.helpers import assert_links_to_rebook, hold
from notifications import hold_expired
from notifications.models import Notification
from notifications.services.queueing import SEND_KIND
from ticketing.models import AuditEntry, OutboxMessage

pytestmark = pytest.mark.django_db


def _expire(booking) -> None:
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_expired_hold_mails_the_buyer_once_with_a_way_back(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 2))
    _expire(booking)

    with django_capture_on_commit_callbacks() as callbacks:
        assert booking_expire_stale() == 1
    # Written before anything after commit ran: with the expiry, not after it.
    notices = Notification.objects.filter(booking=booking, template="hold_expired")
    assert notices.count() == 2
    outbox = OutboxMessage.objects.filter(kind=SEND_KIND)
    assert set(outbox.values_list("key", flat=True)) == {
        f"notification:{pk}" for pk in notices.values_list("pk", flat=True)
    }
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    rows = Notification.objects.filter(booking=booking, template="hold_expired")
    assert sorted(rows.values_list("channel", flat=True)) == ["email", "sms"]
    [email] = [m for m in mail.outbox if m.to == [booking.buyer_email]]
    assert "not paid in time" in email.body
    assert_links_to_rebook(email.body, booking)
    assert booking.reference in email.subject

    # A replayed signal, or a second run, sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        signals.bookings_expiring.send(sender=Booking, booking_ids=[booking.pk])
        assert booking_expire_stale() == 0
    assert rows.count() == 2


def test_no_notice_for_a_hold_that_was_paid_meanwhile(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1))
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=True):
        signals.bookings_expiring.send(sender=Booking, booking_ids=[booking.pk])
    assert not booking.notifications.exists()


def test_expired_notice_in_french(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1), language="fr")
    _expire(booking)
    with django_capture_on_commit_callbacks(execute=True):
        booking_expire_stale()
    [email] = [m for m in mail.outbox if m.to == [booking.buyer_email]]
    assert "n'a pas été payée à temps" in email.body
    assert "a expiré" in email.subject


def _expired_rows(booking) -> tuple[str, int, int]:
    booking.refresh_from_db()
    audit = AuditEntry.objects.filter(
        action="bookings.booking.expired", object_id=str(booking.pk)
    )
    return booking.status, booking.notifications.count(), audit.count()


def test_a_rolled_back_expiry_leaves_neither_expired_holds_nor_notices(
    session, ticket_type
):
    booking = hold(session, (ticket_type, 1))
    _expire(booking)

    class Abort(Exception):
        pass

    inside = []

    def expire_then_fail():
        with transaction.atomic():
            assert booking_expire_stale() == 1
            inside.append(_expired_rows(booking))
            raise Abort

    with pytest.raises(Abort):
        expire_then_fail()
    assert inside == [(Booking.Status.EXPIRED, 2, 1)]

    assert _expired_rows(booking) == (Booking.Status.PENDING, 0, 0)
    assert not OutboxMessage.objects.filter(kind=SEND_KIND).exists()


def test_notices_that_cannot_be_written_roll_the_batch_back_for_the_next_run(
    session, ticket_type, monkeypatch, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1))
    _expire(booking)

    def broken(booking_ids):
        raise RuntimeError("notification table unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(hold_expired, "_queue_chunk", broken)
        with pytest.raises(RuntimeError):
            booking_expire_stale()
    # Not expired without its notice: the whole batch waits for the next run.
    assert _expired_rows(booking) == (Booking.Status.PENDING, 0, 0)

    with django_capture_on_commit_callbacks(execute=True):
        assert booking_expire_stale() == 1
    assert _expired_rows(booking) == (Booking.Status.EXPIRED, 2, 1)
    assert [m.to for m in mail.outbox] == [[booking.buyer_email]]


@pytest.mark.django_db(transaction=True)
def test_notices_commit_in_the_expiry_transaction(session, ticket_type):
    """Seen from another connection: the notices are invisible until the expiry
    commits and there as soon as it has, so no crash can fall between the two."""
    booking = hold(session, (ticket_type, 1))
    _expire(booking)
    seen = {}

    def elsewhere():
        try:
            return (
                Booking.objects.get(pk=booking.pk).status,
                Notification.objects.filter(booking_id=booking.pk).count(),
            )
        finally:
            connection.close()

    def look_from_another_connection() -> tuple[str, int]:
        result = []
        thread = threading.Thread(target=lambda: result.append(elsewhere()))
        thread.start()
        thread.join()
        return result[0]

    def during(sender, booking_ids, **kwargs):
        # Connected after notifications' receiver: its rows are written by now.
        seen["in_transaction"] = connection.in_atomic_block
        seen["here"] = booking.notifications.count()
        seen["elsewhere"] = look_from_another_connection()

    signals.bookings_expiring.connect(during)
    try:
        assert booking_expire_stale() == 1
    finally:
        signals.bookings_expiring.disconnect(during)

    assert seen == {
        "in_transaction": True,
        "here": 2,
        "elsewhere": (Booking.Status.PENDING, 0),
    }
    assert look_from_another_connection() == (Booking.Status.EXPIRED, 2)
