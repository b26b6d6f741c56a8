"""Expiring holds costs the same number of queries for 5 holds as for 50: the expiry
and the hold-expired notices it causes are written set by set, not hold by hold."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking
from bookings.services import booking_expire_stale
from bookings.tests.factories import BookingFactory
from notifications.models import Notification
from notifications.services.queueing import SEND_KIND
from ticketing import outbox
from ticketing.models import OutboxMessage

pytestmark = pytest.mark.django_db


def _stale_holds(session, count: int) -> list[Booking]:
    """`count` expired-unpaid holds with email and phone, and one without any
    contact detail (it gets no notice)."""
    past = timezone.now() - dt.timedelta(minutes=1)
    common = {
        "organiser": session.event.organiser,
        "event": session.event,
        "session": session,
        "expires_at": past,
    }
    BookingFactory(buyer_email="", buyer_phone="", **common)
    return BookingFactory.create_batch(count, buyer_phone="+33612345678", **common)


def _expire_counting_queries(capture_on_commit, count: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        with capture_on_commit() as after_expiry:
            assert booking_expire_stale() == count + 1
        # The expiry's after-commit work (payments told); the sends the outbox kick
        # starts are the outbox's, not the expiry's.
        with capture_on_commit():
            for callback in after_expiry:
                if callback is not outbox._kick:
                    callback()
    return len(queries)


def test_expiring_5_or_50_holds_takes_the_same_queries(
    session, django_capture_on_commit_callbacks
):
    booking_expire_stale()  # warm caches (the audit rows' content type)
    few = _stale_holds(session, 5)
    few_queries = _expire_counting_queries(django_capture_on_commit_callbacks, 5)
    many = _stale_holds(session, 50)
    many_queries = _expire_counting_queries(django_capture_on_commit_callbacks, 50)

    assert many_queries == few_queries
    assert few_queries < 20  # a handful of statements, not one per hold
    for booking in few + many:
        booking.refresh_from_db()
        assert booking.status == Booking.Status.EXPIRED
        rows = Notification.objects.filter(booking=booking, template="hold_expired")
        assert sorted(rows.values_list("channel", flat=True)) == ["email", "sms"]
    notices = Notification.objects.filter(template="hold_expired")
    assert notices.count() == 2 * 55  # none for the two holds without contact
    keys = set(
        OutboxMessage.objects.filter(kind=SEND_KIND).values_list("key", flat=True)
    )
    assert keys == {f"notification:{pk}" for pk in notices.values_list("pk", flat=True)}
