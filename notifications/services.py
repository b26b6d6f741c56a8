"""Emails and SMS to buyers through an outbox.

`notification_queue` writes `Notification` rows, and one outbox row each
(`ticketing.outbox`, kind `notifications.send`), in the caller's transaction;
the outbox dispatches them after commit (and every 30 s from beat, for kicks that
were lost), retrying temporary failures with `SEND_POLICY`. `notification_send`
claims a row, renders it in the buyer's language and hands it to the email or SMS
backend; `notification_status_update` records what the provider reports afterwards.
Brevo and Twilio take no idempotency key: a worker killed between their accept and
our mark sends the message again (at least once; see docs/operations.md).

Statuses: queued → sending → sent → delivered | bounced | failed, or skipped when no
provider is configured (console backends, missing keys). A failed row with an empty
`provider_message_id` is a send that can be retried; one with an id was refused by
the recipient's side and is not retried; one whose `last_error` starts with
`REJECTED_PREFIX` was refused by the provider (4xx) and is not retried either.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.core.mail.backends.dummy import EmailBackend as DummyEmailBackend
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from admission import services as admission
from bookings.access import booking_page_path, rebook_path
from bookings.exceptions import InvalidTransition
from bookings.models import Booking
from notifications import sms
from ticketing import outbox
from ticketing.audit import audit_log
from ticketing.lib.localtime import local_datetime
from ticketing.lib.retry import RetryPolicy, is_retryable_status
from ticketing.templatetags.money import money

from .models import Notification

logger = logging.getLogger(__name__)

Channel = Notification.Channel
Status = Notification.Status
Template = Notification.Template

# Attempts of one row in all.
MAX_ATTEMPTS = 10
# A failed send waits 30 s, 1 min, 2 min ... at most an hour (less some jitter).
SEND_KIND = "notifications.send"
SEND_POLICY = RetryPolicy(base=30, cap=3600, max_attempts=MAX_ATTEMPTS)
# A row still sending this long after it was claimed lost its worker mid-send; it is
# sent again (at least once: the first attempt may have reached the provider).
SENDING_STALE_AFTER = dt.timedelta(minutes=10)
# The outbox lease outlasts it, so that a row the outbox hands out again after a lost
# worker is claimable by then.
SEND_LEASE = SENDING_STALE_AFTER + dt.timedelta(minutes=1)
# last_error of a send the provider refused (4xx): never retried.
REJECTED_PREFIX = "rejected: "
# The confirmation waits for the tickets PDF this many attempts, then goes without it
# (the booking page shows the tickets too).
PDF_ATTEMPTS = 3
# (connect, read) seconds for HTTP email APIs (anymail).
EMAIL_HTTP_TIMEOUT = (3.05, 20)

SUBJECTS = {
    Template.CONFIRMATION: _("Your tickets for %(event)s (booking %(reference)s)"),
    Template.CANCELLATION: _("%(event)s: booking %(reference)s cancelled"),
    Template.REFUND: _("%(event)s: booking %(reference)s refunded"),
    Template.PAYMENT_FAILED: _("%(event)s: payment for booking %(reference)s failed"),
    Template.HOLD_EXPIRING: _("%(event)s: your seats are held until %(time)s"),
    Template.HOLD_EXPIRED: _("%(event)s: booking %(reference)s expired unpaid"),
    Template.PAYMENT_INSTRUCTIONS: _("%(event)s: how to pay for booking %(reference)s"),
    Template.LOOKUP: _("%(event)s: the link to booking %(reference)s"),
}

class NotificationTemporaryError(Exception):
    """A send failed in a way that may clear up (network, 5xx, 429): retry later."""


class _Skipped(Exception):
    """No provider to send through: record the row as skipped."""


class _Rejected(Exception):
    """The provider refused this message: sending it again would fail again."""


# Queueing


def notification_queue(
    *,
    booking: Booking,
    template: str,
    channels: Iterable[str] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """Write one row per channel (SMS only when the buyer gave a phone) in the
    current transaction and send each after commit; nothing is sent if it rolls
    back. Call it inside the transaction of the change that causes the message."""
    return notifications_write(
        notification_rows(booking=booking, template=template, channels=channels)
    )


def notification_rows(
    *,
    booking: Booking,
    template: str,
    channels: Iterable[str] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """The unsaved rows of one message to a buyer, one per channel they gave.
    Raises ValidationError for a row that could not be stored."""
    language = _language(booking.language)
    recipients = {Channel.EMAIL: booking.buyer_email, Channel.SMS: booking.buyer_phone}
    notifications = []
    for channel in channels:
        if not recipients[channel]:
            continue
        notification = Notification(
            booking=booking,
            organiser_id=booking.organiser_id,
            channel=channel,
            template=template,
            recipient=recipients[channel],
            language=language,
        )
        # The booking is at hand: no query to check that it and its organiser exist.
        notification.clean_fields(exclude={"booking", "organiser"})
        notifications.append(notification)
    return notifications


def notifications_write(notifications: list[Notification]) -> list[Notification]:
    """Store `notifications` and their outbox rows, two statements however many
    (inside the caller's transaction)."""
    if not notifications:
        return []
    Notification.objects.bulk_create(notifications)
    sends_enqueue((n.pk, n.organiser_id) for n in notifications)
    return notifications


def sends_enqueue(rows: Iterable[tuple[int, int]]) -> None:
    """The outbox rows that send stored notifications, (id, organiser id) each, in
    one statement (inside the transaction that wrote them)."""
    outbox.enqueue_many(
        SEND_KIND,
        [
            outbox.Entry(
                key=f"notification:{pk}",
                payload={"notification_id": pk},
                organiser_id=organiser_id,
            )
            for pk, organiser_id in rows
        ],
    )


def notification_send_handler(message) -> None:
    """The outbox handler of SEND_KIND: send the row, raise to be retried."""
    notification_id = message.payload["notification_id"]
    status = notification_send(notification_id)
    if status == Status.SENDING:
        # Another worker claimed it less than SENDING_STALE_AFTER ago (a task queued
        # before the outbox, or an admin resend): look again later.
        raise NotificationTemporaryError("being sent by another worker")


def booking_notice_queue(*, booking_id: int, template: str) -> list[Notification]:
    """Queue `template` for a booking once (a replayed signal queues nothing): a
    confirmation while it is confirmed, a cancellation if it had been confirmed, a
    refund once refunded. Locks the booking row to serialise duplicate signals."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        expected = {
            Template.CONFIRMATION: booking.status == Booking.Status.CONFIRMED,
            Template.CANCELLATION: booking.status == Booking.Status.CANCELLED
            and booking.confirmed_at is not None,
            Template.REFUND: booking.status == Booking.Status.REFUNDED,
            Template.HOLD_EXPIRING: booking.status == Booking.Status.PENDING
            and booking.expires_at is not None
            and booking.expires_at > timezone.now(),
            Template.PAYMENT_INSTRUCTIONS: booking.status == Booking.Status.PENDING,
            # Sent by the release of a hold whose payment failed, in its transaction.
            Template.PAYMENT_FAILED: booking.status
            in (Booking.Status.PENDING, Booking.Status.CANCELLED)
            and booking.confirmed_at is None,
            Template.HOLD_EXPIRED: booking.status == Booking.Status.EXPIRED,
        }
        if not expected.get(template, True):
            return []
        if booking.notifications.filter(template=template).exists():
            return []
        return notification_queue(booking=booking, template=template)


def hold_reminders_queue(now: dt.datetime | None = None) -> int:
    """Queue the "hold expiring" reminder of every unpaid hold that is within its
    organiser's `hold_reminder_minutes` of expiring, once per booking (Celery beat
    runs this every minute). Returns how many bookings got one."""
    now = now or timezone.now()
    window_end = now + dt.timedelta(minutes=60)  # the longest reminder allowed
    candidates = (
        Booking.objects.filter(
            status=Booking.Status.PENDING,
            expires_at__gt=now,
            expires_at__lte=window_end,
            organiser__hold_reminder_minutes__isnull=False,
        )
        .exclude(notifications__template=Template.HOLD_EXPIRING)
        .values_list("pk", "expires_at", "organiser__hold_reminder_minutes")
    )
    queued = 0
    for booking_id, expires_at, minutes in candidates:
        if expires_at - now <= dt.timedelta(minutes=minutes) and booking_notice_queue(
            booking_id=booking_id, template=Template.HOLD_EXPIRING
        ):
            queued += 1
    return queued


def notification_resend(*, booking_id: int, actor=None) -> list[Notification]:
    """Queue the confirmation (email, and SMS with a phone) of a confirmed booking
    again, with an audit row. Raises InvalidTransition for other bookings."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.status != Booking.Status.CONFIRMED:
            raise InvalidTransition(_("Only a confirmed booking has tickets to send."))
        notifications = notification_queue(
            booking=booking, template=Template.CONFIRMATION
        )
        audit_log(
            action="bookings.booking.confirmation_resent",
            obj=booking,
            organiser_id=booking.organiser_id,
            actor=actor,
            data={
                "reference": booking.reference,
                "notifications": [n.pk for n in notifications],
            },
        )
    return notifications


# Sending


def notification_send(notification_id: int) -> str:
    """Send one notification; returns its status afterwards.

    Safe to run twice: a conditional UPDATE claims the row (queued, retryable
    failed, or stale sending → sending, attempts + 1), so a second run of the same
    task finds nothing to claim and sends nothing. Raises NotificationTemporaryError
    after recording a retryable failure (the outbox retries it); a refusal by
    the provider is recorded as failed and not raised; a missing provider is
    recorded as skipped with a warning.
    """
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(_claimable(now))
        .update(status=Status.SENDING, attempts=F("attempts") + 1, updated_at=now)
    )
    if not claimed:
        status = (
            Notification.objects.filter(pk=notification_id)
            .values_list("status", flat=True)
            .first()
        )
        logger.info("Notification %s not claimed (status %s)", notification_id, status)
        return status or ""
    notification = Notification.objects.select_related(
        "booking__event",
        "booking__session__venue",
        "booking__organiser",
    ).get(pk=notification_id)
    try:
        with translation.override(notification.language):
            if (
                notification.template == Template.CONFIRMATION
                and notification.booking.status != Booking.Status.CONFIRMED
            ):
                raise _Skipped("the booking is no longer confirmed")
            if (
                notification.template == Template.PAYMENT_INSTRUCTIONS
                and notification.booking.status != Booking.Status.PENDING
            ):
                raise _Skipped("the booking is no longer waiting for payment")
            if notification.channel == Channel.EMAIL:
                message_id, delivered = _send_email(notification)
            else:
                message_id, delivered = _send_sms(notification)
    except _Skipped as reason:
        logger.warning(
            "Notification %s skipped: %s",
            notification.pk,
            reason,
            extra={"notification_id": notification.pk},
        )
        _finish(notification.pk, status=Status.SKIPPED, last_error=str(reason))
        return Status.SKIPPED
    except _Rejected as reason:
        logger.warning(
            "Notification %s refused by the provider: %s",
            notification.pk,
            reason,
            extra={"notification_id": notification.pk},
        )
        _finish(
            notification.pk,
            status=Status.FAILED,
            last_error=f"{REJECTED_PREFIX}{reason}",
        )
        return Status.FAILED
    except NotificationTemporaryError as error:
        logger.warning(
            "Notification %s failed, will retry: %s",
            notification.pk,
            error,
            extra={"notification_id": notification.pk},
        )
        _finish(notification.pk, status=Status.FAILED, last_error=str(error))
        raise
    except Exception as error:
        # Unexpected: recorded for the retry task and the admin, then raised for the
        # error tracker.
        _finish(
            notification.pk,
            status=Status.FAILED,
            last_error=f"unexpected {type(error).__name__}",
        )
        raise
    status = Status.SENT if delivered else Status.SKIPPED
    if not delivered:
        logger.warning(
            "Notification %s not delivered: no %s provider configured",
            notification.pk,
            notification.channel,
            extra={"notification_id": notification.pk},
        )
    _finish(
        notification.pk,
        status=status,
        provider_message_id=message_id,
        last_error="" if delivered else "no provider configured",
    )
    return status


def _claimable(now) -> Q:
    return (
        Q(status=Status.QUEUED)
        | (
            Q(status=Status.FAILED, provider_message_id="", attempts__lt=MAX_ATTEMPTS)
            & ~Q(last_error__startswith=REJECTED_PREFIX)
        )
        | Q(
            status=Status.SENDING,
            updated_at__lt=now - SENDING_STALE_AFTER,
            attempts__lt=MAX_ATTEMPTS,
        )
    )


def _finish(
    notification_id: int,
    *,
    status: str,
    last_error: str = "",
    provider_message_id: str = "",
) -> None:
    now = timezone.now()
    fields = {"status": status, "last_error": last_error[:1000], "updated_at": now}
    if provider_message_id:
        fields.update(provider_message_id=provider_message_id, sent_at=now)
    updated = Notification.objects.filter(
        pk=notification_id, status=Status.SENDING
    ).update(**fields)
    if not updated and provider_message_id:
        # A delivery report overtook us (it found the row by its id): keep its
        # status, record the message id.
        Notification.objects.filter(pk=notification_id).update(
            provider_message_id=provider_message_id, sent_at=now, updated_at=now
        )


def _context(notification: Notification) -> dict:
    booking = notification.booking
    event = booking.event
    context = {
        "booking": booking,
        "event": event,
        "session": booking.session,
        "venue": booking.session.venue,
        "organiser": booking.organiser,
        "lines": list(booking.lines.select_related("ticket_type")),
        # Aware datetimes: templates print them with `local_datetime` on the
        # session's clock (Django's `date` filter would print the worker's zone).
        "starts_at": booking.session.starts_at,
        "expires_at": booking.expires_at,
        "booking_url": settings.SITE_URL + booking_page_path(booking.reference),
        "rebook_url": settings.SITE_URL + rebook_path(booking),
        "refund_amount": money(booking.total),
        "language": notification.language,
    }
    if notification.template == Template.PAYMENT_INSTRUCTIONS:
        from payments.services import offline_instructions

        context["offline"] = offline_instructions(booking)
    if notification.template == Template.PAYMENT_FAILED:
        from payments.failures import booking_failure_reason

        context["failure_reason"] = booking_failure_reason(booking)
    return context


def _subject(notification: Notification, context: dict) -> str:
    expires_at = context["expires_at"]
    return str(SUBJECTS[notification.template]) % {
        "event": context["event"].title,
        "reference": context["booking"].reference,
        "time": local_datetime(expires_at, context["session"], "time"),
    }


def _email_connection():
    try:
        backend = import_string(settings.EMAIL_BACKEND)
        from anymail.backends.base import AnymailBaseBackend
        from anymail.backends.base_requests import AnymailRequestsBackend

        if issubclass(backend, AnymailRequestsBackend):
            connection = get_connection(timeout=EMAIL_HTTP_TIMEOUT)
        else:
            connection = get_connection()
    except ImproperlyConfigured as error:
        raise _Skipped(f"email backend not configured: {error}") from error
    if isinstance(connection, AnymailBaseBackend) and not getattr(
        connection, "api_key", "set"
    ):
        raise _Skipped(f"{connection.esp_name} API key not set")
    return connection


def _send_email(notification: Notification) -> tuple[str, bool]:
    from anymail.backends.base import AnymailBaseBackend
    from anymail.exceptions import AnymailError, AnymailRecipientsRefused

    connection = _email_connection()
    context = _context(notification)
    attachment = None
    if notification.template == Template.CONFIRMATION:
        attachment = _tickets_pdf(notification)
    context["has_attachment"] = attachment is not None
    context["subject"] = subject = _subject(notification, context)
    name = f"notifications/email/{notification.template}"
    organiser = context["organiser"]
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{name}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        reply_to=[organiser.contact_email] if organiser.contact_email else None,
        connection=connection,
    )
    message.attach_alternative(render_to_string(f"{name}.html", context), "text/html")
    if attachment is not None:
        message.attach(*attachment, "application/pdf")
    if notification.template == Notification.Template.CONFIRMATION:
        # The invoice of a buyer who asked for one goes with the tickets.
        from invoicing.services.sales import booking_invoice_attachment

        if invoice := booking_invoice_attachment(notification.booking):
            message.attach(*invoice, "application/pdf")
    is_anymail = isinstance(connection, AnymailBaseBackend)
    local_id = ""
    if is_anymail:
        # Comes back in tracking webhooks, to find the row if its id is not stored.
        message.metadata = {"notification": str(notification.pk)}
        message.tags = [f"booking-{notification.template}"]
    else:
        host = urlsplit(settings.SITE_URL).hostname or "localhost"
        local_id = make_msgid(idstring=f"notification-{notification.pk}", domain=host)
        message.extra_headers["Message-ID"] = local_id
    try:
        message.send()
    except AnymailRecipientsRefused as error:
        raise _Rejected("recipient refused") from error
    except AnymailError as error:
        status = getattr(error, "status_code", None)
        label = f"{connection.esp_name} answered {status or 'nothing'}"
        logger.warning("Email notification %s: %s", notification.pk, error)
        if is_retryable_status(status):
            raise NotificationTemporaryError(label) from error
        raise _Rejected(label) from error
    except smtplib.SMTPRecipientsRefused as error:
        raise _Rejected("recipient refused") from error
    except (smtplib.SMTPException, OSError) as error:
        raise NotificationTemporaryError(f"email: {type(error).__name__}") from error
    if is_anymail:
        message_id = message.anymail_status.message_id or ""
    else:
        message_id = local_id
    delivered = not isinstance(connection, ConsoleEmailBackend | DummyEmailBackend)
    return message_id, delivered


def _tickets_pdf(notification: Notification) -> tuple[str, bytes] | None:
    """(filename, content) of the booking's tickets PDF. Raises
    NotificationTemporaryError while rendering fails, for the first PDF_ATTEMPTS
    attempts; then the email goes without it."""
    booking = notification.booking
    try:
        document = admission.booking_document_get_or_render(booking.pk)
        with document.pdf.open("rb") as pdf:
            content = pdf.read()
    except Exception as error:
        if notification.attempts < PDF_ATTEMPTS:
            raise NotificationTemporaryError(
                f"tickets PDF: {type(error).__name__}"
            ) from error
        logger.exception(
            "Tickets PDF of booking %s unavailable; confirmation sent without it",
            booking.pk,
        )
        return None
    # Brevo needs an ASCII name with a known extension.
    reference = booking.reference.encode("ascii", "ignore").decode()
    return f"tickets-{reference}.pdf", content


def _twilio_status_url(notification: Notification) -> str:
    # The id in the query (covered by Twilio's signature) finds the row even when the
    # first report arrives before the message SID is stored.
    path = reverse("notifications:twilio-status")
    return f"{settings.SITE_URL}{path}?notification={notification.pk}"


def _send_sms(notification: Notification) -> tuple[str, bool]:
    try:
        backend = sms.get_sms_backend()
    except sms.SmsNotConfigured as error:
        raise _Skipped(str(error)) from error
    body = render_to_string(
        f"notifications/sms/{notification.template}.txt", _context(notification)
    ).strip()
    try:
        message_id = backend.send(
            notification.recipient,
            body,
            status_callback=_twilio_status_url(notification),
        )
    except sms.SmsNotConfigured as error:
        raise _Skipped(str(error)) from error
    except sms.SmsUnavailable as error:
        raise NotificationTemporaryError(str(error)) from error
    except sms.SmsRejected as error:
        raise _Rejected(str(error)) from error
    return message_id, backend.delivers


# After sending


# Which statuses a delivery report may replace: delivered is final; a report never
# brings a row back to sent.
_REPORT_FROM = {
    Status.DELIVERED: (Status.SENDING, Status.SENT, Status.FAILED, Status.BOUNCED),
    Status.BOUNCED: (Status.SENDING, Status.SENT),
    Status.FAILED: (Status.SENDING, Status.SENT),
}


def notification_status_update(
    *,
    channel: str,
    provider_message_id: str,
    status: str,
    notification_id: int | str | None = None,
    error: str = "",
) -> int:
    """Record a provider's delivery report (delivered, bounced or failed); returns
    the number of rows changed. Reports may come twice or out of order: a row only
    moves forward (see `_REPORT_FROM`). `notification_id` (echoed back by the
    provider) finds a row whose message id is not stored yet."""
    if status not in _REPORT_FROM or not provider_message_id:
        return 0
    fields = {"status": status, "updated_at": timezone.now()}
    if status != Status.DELIVERED:
        fields["last_error"] = error[:1000]
    rows = Notification.objects.filter(channel=channel)
    known = rows.filter(provider_message_id=provider_message_id)
    if known.exists():
        return known.filter(status__in=_REPORT_FROM[status]).update(**fields)
    try:
        pk = int(notification_id) if notification_id else None
    except (TypeError, ValueError):
        pk = None
    if pk is None:
        logger.info("Delivery report for unknown %s message", channel)
        return 0
    return rows.filter(
        pk=pk, provider_message_id="", status__in=_REPORT_FROM[status]
    ).update(provider_message_id=provider_message_id, **fields)


def _language(code: str) -> str:
    available = {language for language, _name in settings.LANGUAGES}
    if code in available:
        return code
    base = (code or "").split("-")[0]
    return base if base in available else settings.LANGUAGE_CODE
