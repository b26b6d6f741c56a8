"""A hold that expires unpaid tells the buyer, once, after the expiry has committed
(issue 18, item 5)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bookings import signals
from bookings.models import Booking
from bookings.services import booking_expire_stale
from bookings.tests.helpers import assert_links_to_rebook, hold
from notifications.models import Notification

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
    # Nothing is written while the expiry's transaction is open: the notice follows
    # its commit.
    assert not Notification.objects.exists()
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
        signals.bookings_expired.send(sender=Booking, booking_ids=[booking.pk])
        assert booking_expire_stale() == 0
    assert rows.count() == 2


def test_no_notice_for_a_hold_that_was_paid_meanwhile(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1))
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=True):
        signals.bookings_expired.send(sender=Booking, booking_ids=[booking.pk])
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
