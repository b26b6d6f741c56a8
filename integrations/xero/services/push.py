"""Pushing our invoices, bills, credit notes, their contacts and payments to Xero.

Every change to an issued document (issued, paid, credited, voided) writes one
outbox row of kind `xero.invoice`, keyed by the invoice so a burst of changes
coalesces into one push (`receivers.py`), in the transaction of the change. The
handler brings Xero up to date with the document as it is now:

- its contact (found by our ContactNumber, else created);
- the document, created once (its Xero id stored at once), then voided if ours is;
- a credit note's allocation to its invoice (what it took off an open balance);
- every payment not yet in Xero (a refund paid out on a credit note too).

Each create carries an `Idempotency-Key` made of the outbox row's id, its version
and the step, so a retry after a timeout (or a worker killed after the call) gets
Xero's first answer back instead of a second document. Xero's ValidationErrors
mark the document failed with Xero's words, raise an alert and end the row (no
retry can help); unavailability (429, 5xx, timeouts, our limiter) is retried by
the outbox, honouring Retry-After.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from invoicing.models import Invoice
from ticketing import outbox
from ticketing.alerts import alert_raise, alert_resolve
from ticketing.lib.http import ExternalAuthError, ExternalError
from ticketing.lib.retry import RetryPolicy
from ticketing.models import Alert, OutboxMessage

from .. import mapping
from ..client import XeroApi, XeroValidationError
from ..exceptions import XeroNotReady
from ..models import XeroConnection, XeroContact, XeroDocument, XeroPayment
from .connection import api_for, connection_broken

logger = logging.getLogger(__name__)

PUSH_KIND = "xero.invoice"
# Minutes apart at first, an hour at most, for about a day: long enough to ride out
# an outage of Xero or of the organiser's consent.
PUSH_POLICY = RetryPolicy(base=30, cap=3600, max_attempts=30)
# One push makes a handful of calls, each of which may wait for the limiter.
PUSH_LEASE = dt.timedelta(minutes=15)
# Changes to one document within this long are pushed once (ARCHITECTURE: at most
# one push per object per 2 s).
COALESCE = dt.timedelta(seconds=2)
ALERT_KIND = Alert.Kind.XERO_PUSH_FAILED

State = XeroDocument.State
Status = Invoice.Status


def push_enqueue(invoice: Invoice, connection: XeroConnection) -> None:
    """Inside the transaction of a change to `invoice`: push it after commit."""
    XeroDocument.objects.get_or_create(
        invoice=invoice, defaults={"connection": connection}
    )
    outbox.enqueue(
        PUSH_KIND,
        key=f"invoice:{invoice.pk}",
        payload={"invoice_id": invoice.pk},
        organiser_id=invoice.organiser_id,
        delay=COALESCE,
    )
    # The outbox's own kick on commit finds the row not yet due: dispatch again once
    # the coalescing delay has passed (beat's 30 s run is the net under both).
    transaction.on_commit(_kick_after_coalescing)


def _kick_after_coalescing() -> None:
    from ticketing.tasks import outbox_dispatch_task

    try:
        outbox_dispatch_task.apply_async(countdown=COALESCE.total_seconds() + 0.5)
    except Exception:  # whatever the broker's client raises; beat dispatches it
        logger.exception("Could not schedule the Xero push; beat will run it")


def _alert_subject(invoice: Invoice) -> str:
    return f"xero:invoice:{invoice.pk}"


class _Push:
    def __init__(self, api: XeroApi, connection, invoice, document, key: str) -> None:
        self.api = api
        self.connection = connection
        self.invoice = invoice
        self.document = document
        self.key = key

    def _save(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self.document, name, value)
        XeroDocument.objects.filter(pk=self.document.pk).update(
            **fields, updated_at=timezone.now()
        )

    def contact_id(self) -> str:
        number = mapping.contact_number(self.invoice)
        known = XeroContact.objects.filter(
            connection=self.connection, contact_number=number
        ).first()
        if known:
            return known.contact_id
        body = mapping.contact(self.invoice)
        found = self.api.contact_find(number)
        if not found:
            try:
                found = self.api.contact_create(body, key=f"{self.key}-contact")
            except XeroValidationError:
                # Another push created it meanwhile (Xero refuses the name twice).
                found = self.api.contact_find(number)
                if not found:
                    raise
        XeroContact.objects.get_or_create(
            connection=self.connection,
            contact_number=number,
            defaults={"contact_id": found, "name": body["Name"]},
        )
        return found

    def run(self) -> None:
        invoice = self.invoice
        if invoice.type == Invoice.Type.CREDIT_NOTE:
            if invoice.parent.status == Status.VOID:
                self._save(
                    state=State.SKIPPED,
                    last_error=_("Its invoice was voided in Xero instead."),
                )
                return
            self.credit_note()
        elif not self.document.xero_id and invoice.status == Status.VOID:
            self._save(
                state=State.SKIPPED, last_error=_("Voided before it was pushed.")
            )
            return
        else:
            self.invoice_or_bill()
        self.payments()
        self._save(state=State.PUSHED, last_error="", pushed_at=timezone.now())

    def invoice_or_bill(self) -> None:
        if not self.document.xero_id:
            body = mapping.document(self.invoice, self.connection, self.contact_id())
            created = self.api.invoice_create(body, key=f"{self.key}-create")
            self._save(
                xero_id=created["InvoiceID"],
                xero_type=body["Type"],
                xero_status=created.get("Status", ""),
            )
        if self.invoice.status == Status.VOID and self.document.xero_status != "VOIDED":
            updated = self.api.invoice_update(
                self.document.xero_id, {"Status": "VOIDED"}, key=f"{self.key}-void"
            )
            self._save(xero_status=updated.get("Status", "VOIDED"))

    def credit_note(self) -> None:
        parent = XeroDocument.objects.filter(invoice=self.invoice.parent_id).first()
        if parent is None or not parent.xero_id:
            if parent is None or parent.state == State.SKIPPED:
                # Issued before Xero was connected: it goes first.
                with transaction.atomic():
                    push_enqueue(self.invoice.parent, self.connection)
            raise XeroNotReady(_("Waiting for its invoice to reach Xero."))
        if not self.document.xero_id:
            body = mapping.document(self.invoice, self.connection, self.contact_id())
            created = self.api.credit_note_create(body, key=f"{self.key}-create")
            self._save(
                xero_id=created["CreditNoteID"],
                xero_type=body["Type"],
                xero_status=created.get("Status", ""),
            )
        # What the note took off its invoice's open balance (the rest was paid out).
        refunded = sum(p.amount_minor for p in self.invoice.payments.all())
        applied = self.invoice.paid_minor - refunded
        if applied > self.document.allocated_minor:
            self.api.allocation_create(
                self.document.xero_id,
                {
                    "Invoice": {"InvoiceID": parent.xero_id},
                    "Amount": mapping.amount(
                        applied - self.document.allocated_minor, self.invoice.currency
                    ),
                    "Date": self.invoice.issued_on.isoformat(),
                },
                key=f"{self.key}-allocation",
            )
            self._save(allocated_minor=applied)

    def payments(self) -> None:
        waiting = self.invoice.payments.filter(xero__isnull=True).order_by("pk")
        if not waiting:
            return
        if not self.connection.payment_account_code:
            raise XeroValidationError(
                [_("Choose the bank account for payments in the Xero settings.")]
            )
        target = (
            {"CreditNote": {"CreditNoteID": self.document.xero_id}}
            if self.invoice.type == Invoice.Type.CREDIT_NOTE
            else {"Invoice": {"InvoiceID": self.document.xero_id}}
        )
        for payment in waiting:
            payment_id = self.api.payment_create(
                {
                    **target,
                    "Account": {"Code": self.connection.payment_account_code},
                    "Date": payment.received_on.isoformat(),
                    "Amount": mapping.amount(payment.amount_minor, payment.currency),
                    "Reference": (payment.reference or payment.method)[:255],
                },
                key=f"{self.key}-payment-{payment.pk}",
            )
            XeroPayment.objects.get_or_create(
                connection=self.connection,
                xero_payment_id=payment_id,
                defaults={
                    "payment": payment,
                    "direction": XeroPayment.Direction.PUSHED,
                },
            )


def _failed(document: XeroDocument, invoice: Invoice, error: XeroValidationError):
    message = "; ".join(error.messages)
    with transaction.atomic():
        XeroDocument.objects.filter(pk=document.pk).update(
            state=State.FAILED, last_error=message, updated_at=timezone.now()
        )
        alert_raise(
            kind=ALERT_KIND,
            organiser=invoice.organiser_id,
            subject=_alert_subject(invoice),
            message=_("Xero refused %(doc)s: %(why)s")
            % {"doc": invoice, "why": message},
            link=reverse("admin:invoicing_invoice_change", args=[invoice.pk]),
        )


def invoice_push(message: OutboxMessage) -> None:
    """The outbox handler of `xero.invoice` (see the module docstring)."""
    invoice = Invoice.objects.select_related("organiser", "party", "parent", "booking")
    invoice = invoice.get(pk=message.payload["invoice_id"])
    connection = XeroConnection.objects.filter(organiser=invoice.organiser_id).first()
    document = XeroDocument.objects.filter(invoice=invoice).first()
    if connection is None or connection.status in (
        XeroConnection.Status.NEW,
        XeroConnection.Status.DISCONNECTED,
    ):
        if document:
            XeroDocument.objects.filter(pk=document.pk).update(
                state=State.SKIPPED, last_error=_("Xero is not connected.")
            )
        return
    if connection.status != XeroConnection.Status.ACTIVE:
        raise XeroNotReady(_("Xero needs to be reconnected."))
    if document is None:
        document = XeroDocument.objects.create(invoice=invoice, connection=connection)
    XeroDocument.objects.filter(pk=document.pk).update(attempts=F("attempts") + 1)
    key = f"outbox-{message.pk}-{message.version}"
    try:
        api = api_for(connection)
        _Push(api, connection, invoice, document, key).run()
    except XeroValidationError as error:
        _failed(document, invoice, error)
        raise outbox.GiveUp(str(error)) from error
    except (ExternalError, XeroNotReady) as error:
        XeroDocument.objects.filter(pk=document.pk).update(
            last_error=str(error)[:2000], updated_at=timezone.now()
        )
        if isinstance(error, ExternalAuthError):
            # Retried (not dead) until the organiser reconnects.
            if XeroConnection.objects.filter(
                pk=connection.pk, status=XeroConnection.Status.ACTIVE
            ).exists():
                connection_broken(connection, error)
            raise XeroNotReady(_("Xero refused our access: reconnect Xero.")) from error
        raise
    with transaction.atomic():
        XeroConnection.objects.filter(pk=connection.pk).update(
            last_push_at=timezone.now(),
            day_calls_left=api.day_calls_left
            if api.day_calls_left is not None
            else F("day_calls_left"),
        )
        alert_resolve(kind=ALERT_KIND, subject=_alert_subject(invoice))


def push_again(*, invoice_ids: list[int]) -> int:
    """The admin's "push to Xero again" (after fixing a mapping, or for documents
    issued before Xero was connected)."""
    count = 0
    with transaction.atomic():
        for invoice in Invoice.objects.filter(pk__in=invoice_ids).exclude(
            status=Status.DRAFT
        ):
            connection = XeroConnection.objects.filter(
                organiser=invoice.organiser_id, status=XeroConnection.Status.ACTIVE
            ).first()
            if connection:
                XeroDocument.objects.filter(invoice=invoice).update(
                    state=State.PENDING, last_error=""
                )
                push_enqueue(invoice, connection)
                count += 1
    return count
