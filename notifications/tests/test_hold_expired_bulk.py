"""The hold-expired notices of a batch, written set by set: exactly once per booking
when two runs (a replayed signal, two workers) race, chunk after chunk."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from bookings.models import Booking
from bookings.tests.factories import BookingFactory
from notifications import hold_expired
from notifications.models import Notification


def _expired(session, count: int, **fields) -> list[int]:
    bookings = BookingFactory.create_batch(
        count,
        organiser=session.event.organiser,
        event=session.event,
        session=session,
        **{"status": Booking.Status.EXPIRED, **fields},
    )
    return [booking.pk for booking in bookings]


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_tell_each_buyer_once(session, monkeypatch):
    monkeypatch.setattr(hold_expired, "CHUNK", 7)  # several chunks per run
    ids = _expired(session, 20, buyer_phone="+33612345678")
    start = threading.Barrier(2)
    queued = []

    def run():
        start.wait()
        try:
            queued.append(hold_expired.hold_expired_notices_queue(ids))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(queued) == 20
    rows = Notification.objects.filter(template="hold_expired")
    for booking_id in ids:
        channels = rows.filter(booking_id=booking_id).values_list("channel", flat=True)
        assert sorted(channels) == ["email", "sms"]
    # Sent once each (Celery is eager in tests: the outbox kicks ran on commit).
    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.org"] * 20


@pytest.mark.django_db
def test_only_expired_bookings_not_told_yet_get_a_notice(
    session, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(hold_expired, "CHUNK", 2)
    told, untold = _expired(session, 1), _expired(session, 2)
    paid = _expired(session, 1, status=Booking.Status.CONFIRMED)
    with django_capture_on_commit_callbacks():
        assert hold_expired.hold_expired_notices_queue(told) == 1
        assert hold_expired.hold_expired_notices_queue(told + untold + paid) == 2
    rows = Notification.objects.filter(template="hold_expired")
    assert sorted(rows.values_list("booking_id", flat=True)) == sorted(told + untold)
