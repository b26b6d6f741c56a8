"""Composing one notification and handing it to a provider: its context, subject and
body in the buyer's language, the tickets PDF and invoice attachments, and the email
(anymail or SMTP) and SMS backends, whose errors are turned into the three outcomes
`sending` records (retry later, refused, skipped). Apart from `sending` because it
is all about message content and provider quirks, not about a row's status.
"""

from __future__ import annotations

import logging
import smtplib
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.core.mail.backends.dummy import EmailBackend as DummyEmailBackend
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from admission import services as admission
from bookings.access import booking_page_path, rebook_path
from notifications import sms
from ticketing.lib.localtime import local_datetime
from ticketing.lib.retry import is_retryable_status
from ticketing.templatetags.money import money

from ..models import Notification

logger = logging.getLogger(__name__)

Template = Notification.Template

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
