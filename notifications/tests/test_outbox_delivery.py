"""A confirmation email is an outbox row committed with the booking: a worker killed
between the commit and the send loses nothing and sends nothing twice; a booking that
rolls back leaves neither the message nor its outbox row.

Real transactions (the rows must really commit or roll back); the email backend is
Django's locmem one, the outbox's own dispatch is driven by hand."""

import dataclasses
import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bookings.models import Booking
from bookings.services import booking_confirm, lifecycle
from bookings.tests.helpers import BuyerInput, hold
from notifications.models import Notification
from notifications.services import queueing
from ticketing import outbox
from ticketing.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

NO_PHONE = BuyerInput(name="Ada Lovelace", email="ada@example.org")
Status = Notification.Status


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://tickets.example.org"


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no `except
    Exception` catches it."""


def _kill(monkeypatch, *, after_send: bool) -> None:
    """The send handler's worker dies: before it sends, or after the send was
    recorded but before the outbox row is marked done."""
    kind = outbox.registered(queueing.SEND_KIND)

    def dies(message):
        if after_send:
            kind.handler(message)
        raise WorkerKilled

    monkeypatch.setitem(
        outbox._kinds, queueing.SEND_KIND, dataclasses.replace(kind, handler=dies)
    )


def _lease_lapses() -> None:
    OutboxMessage.objects.filter(kind=queueing.SEND_KIND).update(
        leased_until=timezone.now() - dt.timedelta(seconds=1)
    )


@pytest.mark.parametrize("after_send", [False, True], ids=["before", "after-send"])
def test_a_worker_killed_after_the_commit_delivers_exactly_once(
    session, ticket_type, monkeypatch, after_send
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    with monkeypatch.context() as patched:
        _kill(patched, after_send=after_send)
        # The commit kicks the dispatch (in-process in tests): the worker claims the
        # row and dies.
        with pytest.raises(WorkerKilled):
            booking_confirm(booking_id=booking.pk)

    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED
    [message] = OutboxMessage.objects.filter(kind=queueing.SEND_KIND)
    assert message.status == OutboxMessage.Status.PENDING
    assert message.leased_until > timezone.now()
    assert len(mail.outbox) == (1 if after_send else 0)

    assert outbox.dispatch() == 0  # still leased by the dead worker: nobody takes it
    _lease_lapses()
    assert outbox.dispatch() == 1  # the next dispatch after its lease
    assert outbox.dispatch() == 0

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.org"]
    assert booking.reference in mail.outbox[0].subject
    [row] = Notification.objects.filter(booking=booking)
    assert (row.status, row.template) == (Status.SENT, "confirmation")
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.DONE


def test_a_rolled_back_confirmation_leaves_no_message_and_no_outbox_row(
    session, ticket_type, monkeypatch
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    real = lifecycle.after_commit
    queued_inside = []

    def then_crash(*args, **kwargs):
        real(*args, **kwargs)  # the messages are queued, in the transaction...
        queued_inside.append(
            OutboxMessage.objects.filter(kind=queueing.SEND_KIND).count()
        )
        raise RuntimeError("crash before the commit")  # ...which rolls back

    monkeypatch.setattr(lifecycle, "after_commit", then_crash)
    with pytest.raises(RuntimeError, match="crash before the commit"):
        booking_confirm(booking_id=booking.pk)

    assert queued_inside == [1]
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PENDING
    assert not Notification.objects.filter(booking=booking).exists()
    assert not OutboxMessage.objects.exists()
    assert outbox.dispatch() == 0
    assert mail.outbox == []


def test_a_cancellation_is_queued_in_the_cancelling_transaction(session, ticket_type):
    from bookings.services import booking_cancel

    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    booking_confirm(booking_id=booking.pk)
    booking_cancel(booking_id=booking.pk, reason="organiser")

    templates = set(
        Notification.objects.filter(booking=booking).values_list("template", flat=True)
    )
    assert templates == {"confirmation", "cancellation"}
    assert [m.subject for m in mail.outbox][-1].endswith(
        f"booking {booking.reference} cancelled"
    )
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {
        OutboxMessage.Status.DONE
    }


def test_rows_left_unsent_before_the_outbox_get_their_outbox_row(session, ticket_type):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "notifications.migrations.0003_unsent_notifications_to_outbox"
    )
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)

    def row(**fields):
        return Notification.objects.create(
            booking=booking,
            organiser=booking.organiser,
            channel="email",
            template="payment_failed",
            recipient="ada@example.org",
            **fields,
        ).pk

    queued = row(status=Status.QUEUED)
    retryable = row(status=Status.FAILED, attempts=2)
    row(status=Status.FAILED, attempts=1, last_error="rejected: 400")
    row(status=Status.SENT, attempts=1, provider_message_id="<x@relay>")

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # twice: still one row each

    keys = set(OutboxMessage.objects.values_list("key", flat=True))
    assert keys == {f"notification:{queued}", f"notification:{retryable}"}
    assert outbox.dispatch() == 2
    assert len(mail.outbox) == 2


def test_a_worker_killed_after_the_mark_sends_nothing_again(
    session, ticket_type, monkeypatch
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    real = outbox._handle

    def handle_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise WorkerKilled

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "_handle", handle_then_die)
        with pytest.raises(WorkerKilled):
            booking_confirm(booking_id=booking.pk)

    [message] = OutboxMessage.objects.filter(kind=queueing.SEND_KIND)
    assert message.status == OutboxMessage.Status.DONE
    _lease_lapses()
    assert outbox.dispatch() == 0
    assert len(mail.outbox) == 1
