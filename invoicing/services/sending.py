"""Emailing a document with its PDF, after commit, by a task with retries. (The
outbox of issue 17 takes this over: one kind, `invoicing.invoice_send`.)"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ticketing.audit import audit_log

from ..exceptions import InvoiceError
from ..models import Invoice

REMIND_EVERY = dt.timedelta(days=7)


def invoice_send_queue(*, invoice_id: int, actor=None, reminder: bool = False) -> None:
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
        transaction.on_commit(lambda: _enqueue(invoice_id, reminder))


def _enqueue(invoice_id: int, reminder: bool) -> None:
    from ..tasks import invoice_send_task

    invoice_send_task.delay(invoice_id, reminder)


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
    (Celery beat, daily). Returns how many."""
    now = now or timezone.now()
    due = Invoice.objects.overdue().exclude(recipient_email="")
    due = due.exclude(reminded_at__gt=now - REMIND_EVERY)
    count = 0
    for invoice_id in due.values_list("pk", flat=True):
        invoice_send_queue(invoice_id=invoice_id, actor="system", reminder=True)
        Invoice.objects.filter(pk=invoice_id).update(reminded_at=now)
        count += 1
    return count
