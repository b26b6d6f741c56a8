"""What comes back from Xero: payments recorded there, and voids.

Two ways in, one way to apply: the webhook (`webhook_receive` stores the verified
events; `webhook_event_process` fetches each invoice again, trusting nothing in the
body but its id) and the scheduled reconcile (invoices modified since the last run,
`If-Modified-Since`). Both hand Xero's invoice to `invoice_apply`, which records a
Xero payment here once (unique on its PaymentID, in the transaction that records
it) and voids ours when Xero's is voided.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from invoicing.exceptions import InvoiceError
from invoicing.models import Invoice, InvoicePayment
from invoicing.services import invoice_payment_record, invoice_void
from ticketing.lib.http import ExternalError

from .. import mapping
from ..client import parse_date
from ..models import XeroConnection, XeroDocument, XeroPayment, XeroWebhookEvent
from .connection import api_for

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # Xero's page


def signature_valid(body: bytes, signature: str) -> bool:
    key = settings.XERO_WEBHOOK_KEY
    if not key or not signature:
        return False
    expected = base64.b64encode(
        hmac.new(key.encode(), body, hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected.encode(), signature.encode())


def webhook_receive(*, body: bytes, signature: str) -> tuple[int, list[int]]:
    """(status, ids of the events to process). 401 for a signature that does not
    verify (also Xero's "intent to receive" check), 200 once the events are stored.
    An event stored by an earlier delivery but not processed yet is returned again:
    deduplication is on "handled", not "stored", so Xero's retry after a lost
    enqueue (broker down) gets the event processed."""
    if not signature_valid(body, signature):
        logger.warning(
            "Xero webhook with a bad signature refused (%d bytes)", len(body)
        )
        return 401, []
    try:
        events = json.loads(body).get("events") or []
    except (ValueError, AttributeError):
        logger.warning("Signed Xero webhook whose body is not a JSON object")
        return 400, []
    due_ids = []
    with transaction.atomic():
        for event in events:
            if not isinstance(event, dict):
                continue
            row, created = XeroWebhookEvent.objects.get_or_create(
                tenant_id=str(event.get("tenantId", ""))[:64],
                resource_id=str(event.get("resourceId", ""))[:64],
                event_type=str(event.get("eventType", ""))[:20],
                event_at=str(event.get("eventDateUtc", ""))[:40],
                defaults={
                    "category": str(event.get("eventCategory", ""))[:20],
                    "payload": event,
                },
            )
            if created or row.processed_at is None:
                due_ids.append(row.pk)
    return 200, due_ids


def webhook_event_process(event_id: int) -> None:
    """Fetch the event's invoice and apply it. Idempotent; an error is kept on the
    row and the sweep tries again."""
    event = XeroWebhookEvent.objects.get(pk=event_id)
    if event.processed_at:
        return
    XeroWebhookEvent.objects.filter(pk=event_id).update(attempts=event.attempts + 1)
    connection = XeroConnection.objects.filter(
        tenant_id=event.tenant_id, status=XeroConnection.Status.ACTIVE
    ).first()
    if connection is not None and event.category == "INVOICE":
        try:
            invoice_apply(
                connection, api_for(connection).invoice_get(event.resource_id)
            )
        except ExternalError as error:
            XeroWebhookEvent.objects.filter(pk=event_id).update(
                last_error=str(error)[:2000]
            )
            raise
    XeroWebhookEvent.objects.filter(pk=event_id).update(
        processed_at=timezone.now(), last_error=""
    )


def _payment_record(connection, invoice: Invoice, remote_payment: dict) -> bool:
    payment_id = remote_payment.get("PaymentID", "")
    if (
        not payment_id
        or XeroPayment.objects.filter(
            connection=connection, xero_payment_id=payment_id
        ).exists()
    ):
        return False
    on = parse_date(remote_payment.get("Date"))
    try:
        with transaction.atomic():
            payment = invoice_payment_record(
                invoice_id=invoice.pk,
                amount_minor=mapping.minor(remote_payment["Amount"], invoice.currency),
                received_on=on.date() if on else None,
                method=InvoicePayment.Method.OTHER,
                reference=f"Xero {payment_id}",
            )
            XeroPayment.objects.create(
                connection=connection,
                payment=payment,
                xero_payment_id=payment_id,
                direction=XeroPayment.Direction.PULLED,
            )
    except IntegrityError:
        return False  # recorded meanwhile by the webhook or the reconcile
    return True


def invoice_apply(connection: XeroConnection, remote: dict) -> None:
    """Bring our invoice in line with Xero's: its payments and a void."""
    document = (
        XeroDocument.objects.select_related("invoice")
        .filter(connection=connection, xero_id=remote.get("InvoiceID", ""))
        .first()
    )
    if document is None:
        return  # not one of ours
    status = remote.get("Status", "")
    XeroDocument.objects.filter(pk=document.pk).update(
        xero_status=status, remote_updated_at=parse_date(remote.get("UpdatedDateUTC"))
    )
    invoice = document.invoice
    try:
        if status == "VOIDED" and invoice.status != Invoice.Status.VOID:
            invoice_void(invoice_id=invoice.pk, reason="Voided in Xero")
        for remote_payment in remote.get("Payments") or []:
            _payment_record(connection, invoice, remote_payment)
    except InvoiceError as error:
        # Xero and we disagree in a way only a person can settle (a void of an
        # invoice paid here, a payment over what is due): say so on the document.
        logger.warning("Xero change to invoice %s not applied: %s", invoice.pk, error)
        XeroDocument.objects.filter(pk=document.pk).update(
            last_error=f"From Xero, not applied: {error}"
        )


def reconcile(*, connection_id: int) -> int:
    """Apply every invoice Xero changed since the last reconcile; returns how many
    were read. The next run starts from when this one started."""
    connection = XeroConnection.objects.get(pk=connection_id)
    if not connection.is_active:
        return 0
    started = timezone.now()
    api = api_for(connection)
    # The first run starts at the connection: older invoices were never ours.
    since = connection.last_reconciled_at or connection.connected_at
    read, page = 0, 1
    while True:
        invoices = api.invoices_modified(since, page)
        for remote in invoices:
            invoice_apply(connection, remote)
        read += len(invoices)
        if len(invoices) < PAGE_SIZE:
            break
        page += 1
    XeroConnection.objects.filter(pk=connection_id).update(last_reconciled_at=started)
    return read


def webhook_events_oldest_due(now: dt.datetime) -> dt.datetime | None:
    """Since when the longest-waiting unprocessed event has been due (None: none
    is), for the health check. An event is due a minute after it is stored, when
    the sweep would pick it up; one given up on (20 attempts) still counts: it is
    stored work that is not moving."""
    oldest = XeroWebhookEvent.objects.filter(processed_at__isnull=True).aggregate(
        oldest=Min("created_at")
    )["oldest"]
    return oldest + dt.timedelta(minutes=1) if oldest else None


def webhook_events_due() -> list[int]:
    """Events stored over a minute ago and still not processed (their task was lost
    or failed)."""
    cutoff = timezone.now() - dt.timedelta(minutes=1)
    return list(
        XeroWebhookEvent.objects.filter(
            processed_at__isnull=True, created_at__lt=cutoff, attempts__lt=20
        ).values_list("pk", flat=True)[:500]
    )
