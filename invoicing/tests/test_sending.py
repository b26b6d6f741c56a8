"""Invoice emails and overdue reminders are outbox rows written in the transaction
that decides them; the handler emails the PDF once, and a failed send is retried.

Real transactions (rows must really commit or roll back); Django's locmem email
backend, or its SMTP backend pointed at a closed local port for a real failure."""

import datetime as dt
import socket

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.services import invoice_issue, invoice_payment_record
from invoicing.services.sending import (
    REMINDER_KIND,
    SEND_KIND,
    invoice_send_queue,
    overdue_reminders_queue,
)
from ticketing import outbox
from ticketing.models import OutboxMessage

from .helpers import draft

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def issued(organiser):
    return invoice_issue(invoice_id=draft(organiser).pk)


@pytest.fixture
def organiser():
    from events.tests.factories import OrganiserFactory

    return OrganiserFactory()


def _pdf_of(email):
    [(name, content, mimetype)] = email.attachments
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF")
    return name


def test_a_rolled_back_send_leaves_no_row_and_sends_nothing(issued):
    queued_inside = []

    def action():
        with transaction.atomic():
            invoice_send_queue(invoice_id=issued.pk)
            queued_inside.append(OutboxMessage.objects.filter(kind=SEND_KIND).count())
            raise RuntimeError("the action fails after queueing")

    with pytest.raises(RuntimeError):
        action()

    assert queued_inside == [1]

    assert not OutboxMessage.objects.exists()
    assert outbox.dispatch() == 0
    assert mail.outbox == []
    assert Invoice.objects.get(pk=issued.pk).sent_at is None


def test_a_committed_send_emails_the_pdf_exactly_once(issued):
    invoice_send_queue(invoice_id=issued.pk)  # the commit kicks the dispatch

    [email] = mail.outbox
    assert email.to == ["ap@acme.test"]
    assert issued.display_number in email.subject
    assert _pdf_of(email).endswith(".pdf")
    [row] = OutboxMessage.objects.filter(kind=SEND_KIND)
    assert row.status == OutboxMessage.Status.DONE
    assert Invoice.objects.get(pk=issued.pk).sent_at is not None
    assert outbox.dispatch() == 0
    assert len(mail.outbox) == 1


def test_two_clicks_before_the_dispatch_send_one_email(issued, monkeypatch):
    monkeypatch.setattr(outbox, "_kick", lambda: None)  # no worker yet
    with transaction.atomic():
        invoice_send_queue(invoice_id=issued.pk)
        invoice_send_queue(invoice_id=issued.pk)
    assert outbox.dispatch() == 1
    assert len(mail.outbox) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_a_failed_send_is_retried_and_then_sends(issued, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2

    invoice_send_queue(invoice_id=issued.pk)  # the kick's dispatch fails to connect

    [row] = OutboxMessage.objects.filter(kind=SEND_KIND)
    assert row.status == OutboxMessage.Status.PENDING
    assert row.attempts == 1
    assert row.last_error.startswith("ConnectionRefusedError")
    assert row.next_attempt_at > timezone.now()
    assert Invoice.objects.get(pk=issued.pk).sent_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox.dispatch() == 0  # not due yet: the retry waits its backoff
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert outbox.dispatch() == 1

    [email] = mail.outbox
    _pdf_of(email)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxMessage.Status.DONE, 2)
    assert Invoice.objects.get(pk=issued.pk).sent_at is not None


def test_a_draft_or_a_document_without_email_is_refused(organiser):
    from invoicing.exceptions import InvoiceError

    with pytest.raises(InvoiceError):
        invoice_send_queue(invoice_id=draft(organiser).pk)
    assert not OutboxMessage.objects.exists()


def _overdue(issued):
    Invoice.objects.filter(pk=issued.pk).update(
        due_on=timezone.localdate() - dt.timedelta(days=3)
    )


def test_overdue_reminders_go_once_a_week_with_the_pdf(issued):
    _overdue(issued)
    now = timezone.now()

    assert overdue_reminders_queue(now=now) == 1
    [email] = mail.outbox
    assert "Reminder" in email.subject
    assert issued.display_number in email.subject
    _pdf_of(email)
    assert OutboxMessage.objects.get(kind=REMINDER_KIND).status == "done"

    assert overdue_reminders_queue(now=now + dt.timedelta(days=1)) == 0
    assert overdue_reminders_queue(now=now + dt.timedelta(days=6)) == 0
    assert len(mail.outbox) == 1
    assert overdue_reminders_queue(now=now + dt.timedelta(days=8)) == 1
    assert len(mail.outbox) == 2


def test_a_reminder_for_a_document_paid_meanwhile_is_not_sent(issued, monkeypatch):
    _overdue(issued)
    monkeypatch.setattr(outbox, "_kick", lambda: None)  # the worker comes later
    assert overdue_reminders_queue() == 1
    invoice_payment_record(
        invoice_id=issued.pk, amount_minor=Invoice.objects.get(pk=issued.pk).total_minor
    )

    assert outbox.dispatch() == 1
    assert mail.outbox == []
    assert OutboxMessage.objects.get(kind=REMINDER_KIND).status == "done"


def test_a_send_task_left_in_the_broker_by_a_deploy_goes_through_the_outbox(issued):
    from invoicing.tasks import invoice_send_task

    invoice_send_task.delay(issued.pk)

    [row] = OutboxMessage.objects.filter(kind=SEND_KIND)
    assert row.status == OutboxMessage.Status.DONE
    [email] = mail.outbox
    _pdf_of(email)


class WorkerKilled(BaseException):
    """A SIGKILL seen from inside: nothing after it runs, no `except Exception`."""


@pytest.mark.parametrize(
    ("after_send", "emails"), [(False, 1), (True, 2)], ids=["before", "after-send"]
)
def test_a_worker_killed_mid_send_sends_at_least_once(
    issued, monkeypatch, after_send, emails
):
    import dataclasses

    kind = outbox.registered(SEND_KIND)

    def dies(message):
        if after_send:
            kind.handler(message)
        raise WorkerKilled

    with monkeypatch.context() as patched:
        patched.setitem(
            outbox._kinds, SEND_KIND, dataclasses.replace(kind, handler=dies)
        )
        with pytest.raises(WorkerKilled):
            invoice_send_queue(invoice_id=issued.pk)  # the kick's worker dies

    assert outbox.dispatch() == 0  # still leased by the dead worker
    OutboxMessage.objects.filter(kind=SEND_KIND).update(
        leased_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert outbox.dispatch() == 1
    # Killed before the send: sent once. Killed between the send and the mark: sent
    # again (no idempotency key for email; docs/operations.md).
    assert len(mail.outbox) == emails
    assert OutboxMessage.objects.get(kind=SEND_KIND).status == "done"
