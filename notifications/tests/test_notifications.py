"""Buyer notifications: the outbox, sending through Brevo (anymail) and Twilio, delivery
reports, retries. Provider APIs are mocked at the HTTP boundary with `responses`."""

import base64
import datetime as dt
import importlib
import json
import sys
import threading
import types
from urllib.parse import parse_qs

import pytest
import responses
from django.core import mail
from django.core.files.base import ContentFile
from django.core.mail.backends.locmem import EmailBackend as LocmemEmailBackend
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from bookings.models import Booking
from bookings.services import (
    BuyerInput,
    booking_cancel,
    booking_confirm,
    booking_mark_refunded,
)
from bookings.tests.helpers import BUYER, hold
from notifications import sms
from notifications.models import Notification
from notifications.services import channels, delivery_reports, queueing, sending
from notifications.tasks import notification_send_task
from ticketing.models import AuditEntry, OutboxMessage
from ticketing.tests.outbox import beat_dispatch

pytestmark = pytest.mark.django_db

SITE_URL = "https://tickets.example.org"
BREVO_URL = "https://api.brevo.com/v3/smtp/email"
BREVO_ID = "<202501011200.12345678901@smtp-relay.mailin.fr>"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "test-auth-token"
TWILIO_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
MESSAGE_SID = "SM0123456789abcdef0123456789abcdef"
NO_PHONE = BuyerInput(name="Ada Lovelace", email="ada@example.org")
Status = Notification.Status


@pytest.fixture(autouse=True)
def _notification_settings(settings, monkeypatch, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # tickets PDFs, when the tickets package renders
    settings.SITE_URL = SITE_URL
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemBackend"
    settings.DEFAULT_FROM_EMAIL = "tickets@example.org"
    monkeypatch.setattr(sms, "outbox", [])


@pytest.fixture(autouse=True)
def tickets_pdf(monkeypatch):
    """The tickets package's `booking_document_get_or_render` when it exists, else a
    stand-in returning a small PDF (the tickets are written by another package)."""
    try:
        ticket_services = importlib.import_module("admission.services")
    except ModuleNotFoundError:
        ticket_services = types.ModuleType("admission.services")
        monkeypatch.setitem(sys.modules, "admission.services", ticket_services)
        import bookings.tickets

        monkeypatch.setattr(
            bookings.tickets, "services", ticket_services, raising=False
        )
    if hasattr(ticket_services, "booking_document_get_or_render"):
        return ticket_services.booking_document_get_or_render

    def render(booking_id):
        reference = Booking.objects.get(pk=booking_id).reference
        pdf = ContentFile(b"%PDF-1.4\n% tickets " + reference.encode(), name="t.pdf")
        return types.SimpleNamespace(pdf=pdf)

    monkeypatch.setattr(
        ticket_services, "booking_document_get_or_render", render, raising=False
    )
    return render


def _confirmed(session, ticket_type, capture, *, buyer=BUYER, quantity=2, **kwargs):
    booking = hold(session, (ticket_type, quantity), buyer=buyer, **kwargs)
    with capture(execute=True):
        booking_confirm(booking_id=booking.pk)
    booking.refresh_from_db()
    return booking


def _beat_dispatch(capture, *, later=dt.timedelta(0)) -> int:
    return beat_dispatch(queueing.SEND_KIND, capture, later=later)


def _rows(booking):
    return {
        row.channel: row
        for row in Notification.objects.filter(booking=booking).order_by("id")
    }


# Queueing and sending


def test_confirming_sends_one_email_and_one_sms(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    rows = _rows(booking)
    assert Notification.objects.filter(booking=booking).count() == 2
    email, text = rows["email"], rows["sms"]
    assert (email.template, email.recipient, email.status, email.attempts) == (
        "confirmation",
        "ada@example.org",
        Status.SENT,
        1,
    )
    assert (text.template, text.recipient, text.status, text.attempts) == (
        "confirmation",
        "+33612345678",
        Status.SENT,
        1,
    )
    assert email.organiser_id == booking.organiser_id
    assert email.sent_at is not None
    assert email.last_error == ""

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.org"]
    assert message.from_email == "tickets@example.org"
    assert message.reply_to == [booking.organiser.contact_email]
    assert message.subject == (
        f"Your tickets for {booking.event.title} (booking {booking.reference})"
    )
    assert email.provider_message_id == message.extra_headers["Message-ID"]
    booking_url = SITE_URL + f"/b/{booking.reference}/?t="
    assert booking_url in message.body
    assert f"2 × {ticket_type.name}" in message.body
    assert "attached to this email" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert booking_url in html
    assert 'style="' in html
    [(filename, content, content_type)] = message.attachments
    assert filename == f"tickets-{booking.reference}.pdf"
    assert content.startswith(b"%PDF")
    assert content_type == "application/pdf"

    [sent_sms] = sms.outbox
    assert sent_sms.to == "+33612345678"
    assert booking.reference in sent_sms.body
    assert booking_url in sent_sms.body
    assert sent_sms.status_callback == (
        f"{SITE_URL}/webhooks/twilio/status/?notification={text.pk}"
    )
    assert text.provider_message_id == sent_sms.message_id


def test_no_sms_without_a_phone(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    assert list(_rows(booking)) == ["email"]
    assert len(mail.outbox) == 1
    assert sms.outbox == []


def test_a_replayed_confirmation_signal_queues_nothing_more(
    session, ticket_type, django_capture_on_commit_callbacks
):
    from bookings import signals

    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        signals.booking_confirmed.send(sender=Booking, booking_id=booking.pk)
    assert Notification.objects.filter(booking=booking).count() == 2
    assert len(mail.outbox) == 1


def _queue_then_fail(booking, template):
    """A service that queues a message, then fails: its transaction rolls back."""
    with transaction.atomic():
        queueing.notification_queue(booking=booking, template=template)
        raise RuntimeError("the service failed after queueing")


def test_nothing_is_queued_or_sent_for_a_rolled_back_transaction(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            _queue_then_fail(booking, "refund")
    assert callbacks == []
    assert not Notification.objects.filter(template="refund").exists()
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_on_a_real_transaction_sending_waits_for_commit(session, ticket_type):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    with pytest.raises(RuntimeError):
        _queue_then_fail(booking, "payment_failed")
    assert Notification.objects.count() == 0
    assert mail.outbox == []

    with transaction.atomic():
        [row] = queueing.notification_queue(booking=booking, template="payment_failed")
        assert mail.outbox == []  # not before commit
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_the_send_task_run_twice_sends_one_email(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        [row] = queueing.notification_queue(booking=booking, template="payment_failed")
    assert len(callbacks) == 1  # enqueued after commit, not yet run

    notification_send_task.delay(row.pk)
    notification_send_task.delay(row.pk)
    assert sending.notification_send(row.pk) == Status.SENT

    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_send_one_email(session, ticket_type):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    row = Notification.objects.create(
        booking=booking,
        organiser=booking.organiser,
        channel="email",
        template="payment_failed",
        recipient="ada@example.org",
    )
    start = threading.Barrier(2)
    results = []

    def worker():
        start.wait()
        try:
            results.append(sending.notification_send(row.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert len(results) == 2
    assert Status.SENT in results


@pytest.mark.parametrize("template", list(Notification.Template))
@pytest.mark.parametrize(
    ("language", "greeting"), [("en", "Hello Ada"), ("fr", "Bonjour Ada")]
)
def test_every_template_renders_in_both_languages(
    session,
    ticket_type,
    django_capture_on_commit_callbacks,
    template,
    language,
    greeting,
):
    booking = hold(session, (ticket_type, 1), language=language)
    with django_capture_on_commit_callbacks(execute=True):
        if template == Notification.Template.CONFIRMATION:
            booking_confirm(booking_id=booking.pk)  # the receiver queues it
        else:
            queueing.notification_queue(booking=booking, template=template)
    rows = Notification.objects.filter(booking=booking, template=template)
    assert sorted(rows.values_list("channel", "status")) == [
        ("email", Status.SENT),
        ("sms", Status.SENT),
    ]
    [message] = mail.outbox
    [text] = sms.outbox
    html = message.alternatives[0][0]
    assert booking.event.title in message.subject
    assert greeting in message.body
    assert greeting in html
    assert booking.reference in text.body
    assert "{" not in message.body + html + text.body
    if language == "fr":
        assert "booking" not in message.subject + message.body + text.body


def test_a_failing_send_is_recorded_and_a_retry_sends_it(
    session, ticket_type, django_capture_on_commit_callbacks, monkeypatch
):
    def refuse(self, messages):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr(LocmemEmailBackend, "send_messages", refuse)
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]
    assert row.status == Status.FAILED
    assert row.attempts == 1
    assert row.last_error == "email: ConnectionRefusedError"
    assert row.provider_message_id == ""
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED

    # Not due before its backoff has passed.
    assert _beat_dispatch(django_capture_on_commit_callbacks) == 0
    monkeypatch.undo()
    later = dt.timedelta(seconds=30)  # the first backoff, at most
    assert _beat_dispatch(django_capture_on_commit_callbacks, later=later) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert len(mail.outbox) == 1


def test_beat_dispatch_picks_up_lost_kicks_and_leaves_final_rows(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    old = timezone.now() - dt.timedelta(hours=2)

    def row(**fields):
        # Written with its outbox row, whose on-commit kick is lost (never run).
        with transaction.atomic():
            [notification] = queueing.notifications_write(
                [
                    Notification(
                        booking=booking,
                        organiser=booking.organiser,
                        channel="email",
                        template="payment_failed",
                        recipient="ada@example.org",
                        **fields,
                    )
                ]
            )
        Notification.objects.filter(pk=notification.pk).update(updated_at=old)
        return notification.pk

    lost_queued = row(status=Status.QUEUED)
    lost_sending = row(status=Status.SENDING, attempts=1)
    rejected = row(status=Status.FAILED, attempts=1, last_error="rejected: 400")
    exhausted = row(status=Status.FAILED, attempts=sending.MAX_ATTEMPTS)
    delivery_failed = row(
        status=Status.FAILED, attempts=1, provider_message_id="<x@relay>"
    )
    skipped = row(status=Status.SKIPPED, attempts=1)

    assert _beat_dispatch(django_capture_on_commit_callbacks) == 6
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert statuses == {
        lost_queued: Status.SENT,
        lost_sending: Status.SENT,
        rejected: Status.FAILED,
        exhausted: Status.FAILED,
        delivery_failed: Status.FAILED,
        skipped: Status.SKIPPED,
    }
    assert len(mail.outbox) == 2
    # Every outbox row is settled: nothing is handed out again.
    assert set(
        OutboxMessage.objects.filter(kind=queueing.SEND_KIND).values_list(
            "status", flat=True
        )
    ) == {OutboxMessage.Status.DONE}
    assert (
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(days=1))
        == 0
    )


def test_a_confirmation_waits_for_the_tickets_pdf_then_goes_without(
    session, ticket_type, django_capture_on_commit_callbacks, monkeypatch
):
    ticket_services = importlib.import_module("admission.services")

    def broken(booking_id):
        raise OSError("storage down")

    monkeypatch.setattr(ticket_services, "booking_document_get_or_render", broken)
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]
    assert (row.status, row.last_error) == (Status.FAILED, "tickets PDF: OSError")
    assert mail.outbox == []
    for _attempt in range(channels.PDF_ATTEMPTS - 1):
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(hours=2))
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, channels.PDF_ATTEMPTS)
    [message] = mail.outbox
    assert message.attachments == []
    assert "attached to this email" not in message.body


def test_cancel_and_refund_notices(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking_mark_refunded(booking_id=booking.pk, reason="test")
    pending = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=pending.pk)

    assert list(
        Notification.objects.filter(booking=booking)
        .order_by("id")
        .values_list("template", "status")
    ) == [("confirmation", Status.SENT), ("refund", Status.SENT)]
    # A hold that was never confirmed gets no cancellation notice.
    assert not Notification.objects.filter(booking=pending).exists()
    refund = mail.outbox[-1]
    assert refund.subject == (
        f"{booking.event.title}: booking {booking.reference} refunded"
    )
    assert "We have refunded 90.00 EUR" in refund.body.replace("\xa0", " ")


def test_cancelling_a_confirmed_booking_sends_a_cancellation(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk)
    cancellations = Notification.objects.filter(
        booking=booking, template="cancellation"
    )
    assert sorted(cancellations.values_list("channel", "status")) == [
        ("email", Status.SENT),
        ("sms", Status.SENT),
    ]
    assert "has been cancelled" in sms.outbox[-1].body


def test_french_booking_gets_french_messages(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, language="fr"
    )
    assert {row.language for row in _rows(booking).values()} == {"fr"}
    [message] = mail.outbox
    assert message.subject == (
        f"Vos billets pour {booking.event.title} (réservation {booking.reference})"
    )
    assert "Votre réservation est confirmée." in message.body
    assert "Bonjour Ada Lovelace," in message.body
    assert "confirmée" in sms.outbox[0].body


# Providers missing or printing only


def test_missing_brevo_key_and_twilio_credentials_skip_without_harm(
    session, ticket_type, django_capture_on_commit_callbacks, settings, caplog
):
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    settings.ANYMAIL = {"BREVO_API_KEY": ""}
    settings.SMS_BACKEND = "notifications.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    with responses.RequestsMock() as mocked, caplog.at_level("WARNING"):
        booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
        assert len(mocked.calls) == 0
    rows = _rows(booking)
    assert rows["email"].status == Status.SKIPPED
    assert rows["email"].last_error == "Brevo API key not set"
    assert rows["sms"].status == Status.SKIPPED
    assert "TWILIO_ACCOUNT_SID" in rows["sms"].last_error
    assert booking.status == Booking.Status.CONFIRMED
    assert "skipped" in caplog.text


def test_console_backends_print_and_record_skipped(
    session, ticket_type, django_capture_on_commit_callbacks, settings, capsys
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.ConsoleBackend"
    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    rows = _rows(booking)
    assert {row.status for row in rows.values()} == {Status.SKIPPED}
    assert rows["email"].last_error == "no provider configured"
    assert booking.reference in capsys.readouterr().out


# Brevo through anymail


@pytest.fixture
def brevo(settings):
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    settings.ANYMAIL = {
        "BREVO_API_KEY": "xkeysib-test",
        "WEBHOOK_SECRET": "hook:s3cret",
    }
    with responses.RequestsMock() as mocked:
        yield mocked


def test_brevo_request_carries_recipient_content_and_pdf(
    session, ticket_type, django_capture_on_commit_callbacks, brevo, tickets_pdf
):
    brevo.post(BREVO_URL, status=201, json={"messageId": BREVO_ID})
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )

    [call] = brevo.calls
    assert call.request.headers["api-key"] == "xkeysib-test"
    assert call.request.req_kwargs["timeout"] == channels.EMAIL_HTTP_TIMEOUT
    body = json.loads(call.request.body)
    assert body["to"] == [{"email": "ada@example.org"}]
    assert body["sender"] == {"email": "tickets@example.org"}
    assert body["replyTo"] == {"email": booking.organiser.contact_email}
    assert body["subject"] == (
        f"Your tickets for {booking.event.title} (booking {booking.reference})"
    )
    assert booking.reference in body["textContent"]
    assert booking.reference in body["htmlContent"]
    [attachment] = body["attachment"]
    assert attachment["name"] == f"tickets-{booking.reference}.pdf"
    pdf = tickets_pdf(booking.pk).pdf
    with pdf.open("rb") as expected:
        assert base64.b64decode(attachment["content"]) == expected.read()
    row = _rows(booking)["email"]
    assert body["headers"]["X-Mailin-custom"] == json.dumps(
        {"notification": str(row.pk)}
    )
    assert (row.status, row.provider_message_id) == (Status.SENT, BREVO_ID)


def test_brevo_503_fails_then_retry_sends(
    session, ticket_type, django_capture_on_commit_callbacks, brevo
):
    brevo.post(BREVO_URL, status=503, json={"message": "unavailable"})
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]
    assert (row.status, row.last_error) == (Status.FAILED, "Brevo answered 503")
    assert len(brevo.calls) == row.attempts == 1
    # The outbox retries it with backoff: 30 s, 1 min, 2 min ... (less jitter).
    [message] = OutboxMessage.objects.filter(kind=queueing.SEND_KIND)
    assert message.last_error == "NotificationTemporaryError: Brevo answered 503"
    wait = message.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=20) < wait <= dt.timedelta(seconds=30)
    for attempt in range(2, 7):
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(hours=1))
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.FAILED, attempt)
    assert len(brevo.calls) == 6

    brevo.replace(responses.POST, BREVO_URL, status=201, json={"messageId": BREVO_ID})
    _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(hours=2))
    row.refresh_from_db()
    assert (row.status, row.provider_message_id) == (Status.SENT, BREVO_ID)
    assert len(brevo.calls) == 7
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxMessage.Status.DONE, 7)


def test_brevo_400_is_not_retried(
    session, ticket_type, django_capture_on_commit_callbacks, brevo
):
    brevo.post(
        BREVO_URL,
        status=400,
        json={"code": "invalid_parameter", "message": "valid sender email required"},
    )
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert row.last_error == "rejected: Brevo answered 400"
    assert (
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(days=1))
        == 0
    )
    assert len(brevo.calls) == 1


def _brevo_event(event, message_id=BREVO_ID, **extra):
    return {
        "event": event,
        "email": "ada@example.org",
        "id": 1,
        "date": "2025-01-01 12:00:05",
        "ts_epoch": 1735732805000,
        "message-id": message_id,
        "subject": "Your tickets",
        **extra,
    }


def _post_brevo(client, payload, auth="hook:s3cret"):
    return client.post(
        "/anymail/brevo/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
    )


def test_brevo_tracking_webhook_marks_delivered_and_never_goes_back(
    client, session, ticket_type, django_capture_on_commit_callbacks, brevo
):
    brevo.post(BREVO_URL, status=201, json={"messageId": BREVO_ID})
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]

    assert _post_brevo(client, _brevo_event("request")).status_code == 200
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert _post_brevo(client, _brevo_event("delivered")).status_code == 200
    row.refresh_from_db()
    assert row.status == Status.DELIVERED
    # Late or repeated events do not move a delivered message back.
    for late in ("request", "deferred", "hard_bounce", "error", "delivered"):
        assert _post_brevo(client, _brevo_event(late)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.DELIVERED, "")


def test_brevo_tracking_webhook_records_a_bounce_and_checks_its_secret(
    client, session, ticket_type, django_capture_on_commit_callbacks, brevo
):
    brevo.post(BREVO_URL, status=201, json={"messageId": BREVO_ID})
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, buyer=NO_PHONE
    )
    row = _rows(booking)["email"]

    forged = _post_brevo(client, _brevo_event("hard_bounce"), auth="hook:wrong")
    assert forged.status_code == 400
    row.refresh_from_db()
    assert row.status == Status.SENT

    bounce = _brevo_event("hard_bounce", reason="550 no such user")
    assert _post_brevo(client, bounce).status_code == 200
    row.refresh_from_db()
    assert row.status == Status.BOUNCED
    assert row.last_error == "Brevo: bounced"
    # No retry for a bounce.
    assert (
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(days=1))
        == 0
    )


def test_a_report_before_the_message_id_is_stored_finds_the_row(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    row = Notification.objects.create(
        booking=booking,
        organiser=booking.organiser,
        channel="email",
        template="payment_failed",
        recipient="ada@example.org",
        status=Status.SENDING,
        attempts=1,
    )
    assert (
        delivery_reports.notification_status_update(
            channel="email",
            provider_message_id=BREVO_ID,
            status=Status.DELIVERED,
            notification_id=str(row.pk),
        )
        == 1
    )
    # The send finishing afterwards keeps the report's status.
    sending._finish(row.pk, status=Status.SENT, provider_message_id=BREVO_ID)
    row.refresh_from_db()
    assert (row.status, row.provider_message_id) == (Status.DELIVERED, BREVO_ID)
    assert row.sent_at is not None


# Twilio


@pytest.fixture
def twilio(settings):
    settings.SMS_BACKEND = "notifications.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    with responses.RequestsMock() as mocked:
        yield mocked


def _sms_sent_through_twilio(twilio, session, ticket_type, capture):
    twilio.post(
        TWILIO_URL,
        status=201,
        json={"sid": MESSAGE_SID, "status": "queued", "to": "+33612345678"},
    )
    booking = _confirmed(session, ticket_type, capture)
    return booking, _rows(booking)["sms"]


def test_twilio_send_posts_the_form_and_stores_the_sid(
    session, ticket_type, django_capture_on_commit_callbacks, twilio
):
    booking, row = _sms_sent_through_twilio(
        twilio, session, ticket_type, django_capture_on_commit_callbacks
    )
    [call] = twilio.calls
    form = parse_qs(call.request.body)
    assert form["To"] == ["+33612345678"]
    assert form["From"] == ["+15005550006"]
    assert form["StatusCallback"] == [
        f"{SITE_URL}/webhooks/twilio/status/?notification={row.pk}"
    ]
    [body] = form["Body"]
    assert body.startswith(f"{booking.event.title}: booking {booking.reference}")
    assert f"{SITE_URL}/b/{booking.reference}/?t=" in body
    assert (row.status, row.provider_message_id) == (Status.SENT, MESSAGE_SID)


def test_twilio_5xx_is_retried_and_4xx_is_not(
    session, ticket_type, django_capture_on_commit_callbacks, twilio
):
    twilio.post(TWILIO_URL, status=503, json={"code": 20503, "message": "down"})
    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    row = _rows(booking)["sms"]
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert row.last_error == "Twilio answered 503 (code 20503)"

    twilio.replace(
        responses.POST, TWILIO_URL, status=400, json={"code": 21211, "message": "x"}
    )
    _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(hours=2))
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.FAILED, 2)
    assert row.last_error == "rejected: Twilio answered 400 (code 21211)"


def _status_callback(client, row, params, *, token=TWILIO_TOKEN):
    path = f"/webhooks/twilio/status/?notification={row.pk}"
    signature = RequestValidator(token).compute_signature(SITE_URL + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _twilio_params(status, **extra):
    return {
        "MessageSid": MESSAGE_SID,
        "MessageStatus": status,
        "AccountSid": TWILIO_SID,
        "From": "+15005550006",
        "To": "+33612345678",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def test_twilio_status_callback_marks_delivered(
    client, session, ticket_type, django_capture_on_commit_callbacks, twilio
):
    _, row = _sms_sent_through_twilio(
        twilio, session, ticket_type, django_capture_on_commit_callbacks
    )
    assert _status_callback(client, row, _twilio_params("sent")).status_code == 204
    row.refresh_from_db()
    assert row.status == Status.SENT
    response = _status_callback(client, row, _twilio_params("delivered"))
    assert response.status_code == 204
    row.refresh_from_db()
    assert row.status == Status.DELIVERED
    # A late "sent" or "failed" does not undo it.
    _status_callback(client, row, _twilio_params("sent"))
    _status_callback(client, row, _twilio_params("failed", ErrorCode="30003"))
    row.refresh_from_db()
    assert row.status == Status.DELIVERED


def test_twilio_status_callback_undelivered_is_failed_and_not_retried(
    client, session, ticket_type, django_capture_on_commit_callbacks, twilio
):
    _, row = _sms_sent_through_twilio(
        twilio, session, ticket_type, django_capture_on_commit_callbacks
    )
    params = _twilio_params("undelivered", ErrorCode="30005")
    assert _status_callback(client, row, params).status_code == 204
    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.FAILED, "twilio undelivered 30005")
    assert (
        _beat_dispatch(django_capture_on_commit_callbacks, later=dt.timedelta(days=1))
        == 0
    )


def test_twilio_status_callback_with_a_wrong_signature_is_refused(
    client, session, ticket_type, django_capture_on_commit_callbacks, twilio
):
    _, row = _sms_sent_through_twilio(
        twilio, session, ticket_type, django_capture_on_commit_callbacks
    )
    forged = _status_callback(
        client, row, _twilio_params("delivered"), token="not-the-token"
    )
    assert forged.status_code == 403
    unsigned = client.post(
        f"/webhooks/twilio/status/?notification={row.pk}",
        _twilio_params("delivered"),
    )
    assert unsigned.status_code == 403
    # Signed for other parameters than those posted.
    path = f"/webhooks/twilio/status/?notification={row.pk}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        SITE_URL + path, _twilio_params("failed")
    )
    tampered = client.post(
        path, _twilio_params("delivered"), HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert tampered.status_code == 403
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert client.get(path).status_code == 405


# Back office


def test_admin_resend_queues_a_new_confirmation(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    from events.models import Membership
    from events.tests.factories import MembershipFactory

    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.STAFF
    )
    client.force_login(member.user)
    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    pending = hold(session, (ticket_type, 1))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:bookings_booking_changelist"),
            {
                "action": "resend_notifications",
                "_selected_action": [booking.pk, pending.pk],
            },
            follow=True,
        )
    page = response.content.decode()
    assert "1 confirmation(s) queued." in page
    assert f"{pending.reference}: Only a confirmed booking has tickets" in page
    assert len(mail.outbox) == 1
    assert (
        Notification.objects.filter(booking=booking, template="confirmation").count()
        == 4
    )
    assert AuditEntry.objects.filter(
        action="bookings.booking.confirmation_resent", object_id=str(booking.pk)
    ).exists()
    assert not Notification.objects.filter(booking=pending).exists()

    change = client.get(
        reverse("admin:bookings_booking_change", args=[booking.pk])
    ).content.decode()
    assert "+33612345678" in change  # the SMS rows are listed


# Hold reminders


def test_an_unpaid_hold_gets_one_reminder_within_its_organisers_window(
    session, ticket_type, django_capture_on_commit_callbacks
):
    organiser = session.event.organiser
    organiser.hold_reminder_minutes = 5
    organiser.save()
    soon = hold(session, (ticket_type, 1))
    later = hold(session, (ticket_type, 1), buyer=NO_PHONE)
    now = timezone.now()
    Booking.objects.filter(pk=soon.pk).update(expires_at=now + dt.timedelta(minutes=4))
    Booking.objects.filter(pk=later.pk).update(
        expires_at=now + dt.timedelta(minutes=10)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.hold_reminders_queue(now=now) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.hold_reminders_queue(now=now) == 0  # once per booking

    rows = _rows(soon)
    assert {row.template for row in rows.values()} == {"hold_expiring"}
    assert rows["email"].status == Status.SENT
    assert not Notification.objects.filter(booking=later).exists()
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]
    assert soon.reference in message.body
    assert len(sms.outbox) == 1

    # Six minutes later the second hold is inside the window too.
    with django_capture_on_commit_callbacks(execute=True):
        assert queueing.hold_reminders_queue(now=now + dt.timedelta(minutes=6)) == 1
    assert _rows(later)["email"].template == "hold_expiring"


def test_no_reminder_without_the_setting_or_once_paid(
    session, ticket_type, django_capture_on_commit_callbacks
):
    pending = hold(session, (ticket_type, 1))
    Booking.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    assert queueing.hold_reminders_queue() == 0  # the organiser did not ask

    organiser = session.event.organiser
    organiser.hold_reminder_minutes = 10
    organiser.save()
    paid = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    Booking.objects.filter(pk=pending.pk).update(status=Booking.Status.CANCELLED)
    mail.outbox.clear()

    assert queueing.hold_reminders_queue() == 0
    assert not Notification.objects.filter(template="hold_expiring").exists()
    assert paid.status == Booking.Status.CONFIRMED
