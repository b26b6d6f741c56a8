"""Emailing a document with its PDF, through the outbox.

"Send" (an admin action) and "overdue reminder" (the daily beat task) each write an
outbox row in the transaction that decides them: a rollback sends nothing, a commit
always sends. The handlers (registered in `InvoicingConfig.ready()`) render the PDF
and hand the email to Django's mail API (anymail in production); an error raised
by the backend leaves the row pending, retried with `SEND_POLICY`.

At least once: the email backends take no idempotency key, so a worker killed
between the backend's accept and the outbox's mark sends it again (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ticketing import outbox
from ticketing.audit import audit_log
from ticketing.lib.retry import RetryPolicy

from ..exceptions import InvoiceError
from ..models import Invoice

SEND_KIND = "invoicing.invoice_send"
REMINDER_KIND = "invoicing.invoice_reminder"
# Ten attempts over about a day: a mail provider's outage outlasts minutes.
SEND_POLICY = RetryPolicy(base=60, cap=3 * 3600, max_attempts=10)
# Rendering a PDF and one SMTP/HTTP exchange; well under this.
SEND_LEASE = dt.timedelta(minutes=5)
REMIND_EVERY = dt.timedelta(days=7)


def invoice_send_queue(*, invoice_id: int, actor=None, reminder: bool = False) -> int:
    """Write the outbox row that emails the document (in the caller's transaction
    if there is one). Two "send" clicks before the first goes coalesce into one
    email (same key). Raises InvoiceError for a draft or a document with no email."""
    kind = REMINDER_KIND if reminder else SEND_KIND
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status == Invoice.Status.DRAFT or not invoice.recipient_email:
            raise InvoiceError(_("Only an issued document with an email is sent."))
        audit_log(
            action="invoicing.invoice.reminder_queued"
            if reminder
            else "invoicing.invoice.send_queued",
            obj=invoice,
            organiser_id=invoice.organiser_id,
            actor=actor,
            data={"to": invoice.recipient_email},
        )
        return outbox.enqueue(
            kind,
            key=f"invoice:{invoice_id}",
            payload={"invoice_id": invoice_id},
            organiser_id=invoice.organiser_id,
        )


def invoice_send_handler(message) -> None:
    """Outbox handler of SEND_KIND; raises (to be retried) when the backend does."""
    invoice_send(message.payload["invoice_id"])


def invoice_reminder_handler(message) -> None:
    """Outbox handler of REMINDER_KIND. A document paid, credited or voided since
    the reminder was queued is no longer overdue: nothing is sent."""
    invoice = Invoice.objects.get(pk=message.payload["invoice_id"])
    if invoice.is_overdue:
        invoice_send(invoice.pk, reminder=True)


def invoice_send(invoice_id: int, reminder: bool = False) -> None:
    """Email the document's PDF to its recipient, in its language."""
    from ..pdf import invoice_pdf_filename, invoice_pdf_render

    invoice = Invoice.objects.select_related("organiser").get(pk=invoice_id)
    with translation.override(invoice.language):
        subject = (
            _("Reminder: %(type)s %(number)s is overdue")
            if reminder
            else _("%(type)s %(number)s")
        ) % {"type": invoice.get_type_display(), "number": invoice.display_number}
        body = _("Please find %(type)s %(number)s from %(org)s attached.") % {
            "type": invoice.get_type_display(),
            "number": invoice.display_number,
            "org": invoice.organiser.invoice_name,
        }
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[invoice.recipient_email],
            reply_to=[invoice.organiser.contact_email],
        )
        message.attach(
            invoice_pdf_filename(invoice),
            invoice_pdf_render(invoice),
            "application/pdf",
        )
    message.send()
    field = "reminded_at" if reminder else "sent_at"
    Invoice.objects.filter(pk=invoice_id).update(**{field: timezone.now()})


def overdue_reminders_queue(now=None) -> int:
    """Queue a reminder for each overdue document not reminded in REMIND_EVERY
    (Celery beat, daily). Each row is written with `reminded_at` in one transaction,
    so tomorrow's run skips it whether or not the email has gone yet. Returns how
    many were queued."""
    now = now or timezone.now()
    due = Invoice.objects.overdue().exclude(recipient_email="")
    due = due.exclude(reminded_at__gt=now - REMIND_EVERY)
    count = 0
    for invoice_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            invoice_send_queue(invoice_id=invoice_id, actor="system", reminder=True)
            Invoice.objects.filter(pk=invoice_id).update(reminded_at=now)
        count += 1
    return count
