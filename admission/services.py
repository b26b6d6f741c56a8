"""The booking's PDF in file storage; QR images.

Ticket rows are written by `bookings` inside the transaction that confirms the
booking (`bookings/tickets/rows.py`), so a confirmed booking always has its tickets.
Files come after commit: a task renders the PDF when `booking_confirmed` arrives, and
a download regenerates it when it is missing, so a lost task costs a slower first
download, never a missing ticket.
"""

from __future__ import annotations

import logging
import secrets

from django.core.files.base import ContentFile
from django.db import transaction
from django.dispatch import receiver

from bookings import signals
from bookings.models import Booking, Ticket

from .models import BookingDocument
from .qr import qr_png

logger = logging.getLogger(__name__)


class TicketsUnavailable(Exception):
    """The booking is not confirmed (any more): it has no tickets to hand out."""


def ticket_qr_png(ticket: Ticket) -> bytes:
    """The ticket's QR code (300 × 300 px, error correction H), carrying its secret."""
    return qr_png(ticket.secret)


def booking_tickets(booking_id: int) -> list[Ticket]:
    return list(
        Ticket.objects.filter(booking_id=booking_id)
        .exclude(status=Ticket.Status.VOID)
        .select_related("attendee", "ticket_type")
        .order_by("pk")
    )


def booking_document_get_or_render(booking_id: int) -> BookingDocument:
    """The booking's PDF, rendered and stored first if it has none or its file is
    gone from storage. Idempotent; raises TicketsUnavailable unless CONFIRMED.

    Rendering and uploading happen outside any transaction; only the swap of the
    row's file name takes the booking lock. When two callers render at once, the
    second to commit keeps the first one's file and deletes its own.
    """
    document = BookingDocument.objects.filter(booking_id=booking_id).first()
    if document is not None and document.pdf.storage.exists(document.pdf.name):
        return document
    from .pdf import tickets_pdf_render  # WeasyPrint takes 0.5 s to import

    seen_name = document.pdf.name if document is not None else None
    booking = Booking.objects.select_related(
        "event", "session__venue", "organiser"
    ).get(pk=booking_id)
    if booking.status != Booking.Status.CONFIRMED:
        raise TicketsUnavailable(booking.reference)
    tickets = booking_tickets(booking_id)
    if not tickets:
        raise TicketsUnavailable(booking.reference)
    storage = BookingDocument._meta.get_field("pdf").storage
    key = f"tickets/{secrets.token_urlsafe(24)}/{booking.reference}.pdf"
    name = storage.save(key, ContentFile(tickets_pdf_render(booking, tickets)))
    with transaction.atomic():
        status = (
            Booking.objects.select_for_update()
            .values_list("status", flat=True)
            .get(pk=booking_id)
        )
        current = BookingDocument.objects.filter(booking_id=booking_id).first()
        # Released while we rendered, or another caller stored its file first.
        ours = status == Booking.Status.CONFIRMED and (
            current is None or current.pdf.name == seen_name
        )
        if ours:
            current = current or BookingDocument(booking_id=booking_id)
            current.pdf.name = name
            current.save()
    if not ours:
        storage.delete(name)
        if status != Booking.Status.CONFIRMED:
            raise TicketsUnavailable(booking.reference)
        return current
    logger.info("Rendered the tickets PDF of %s (%d)", booking.reference, len(tickets))
    return current


def booking_document_delete(booking_id: int) -> bool:
    """Remove a released booking's PDF (row and file). Idempotent."""
    document = BookingDocument.objects.filter(booking_id=booking_id).first()
    if document is None:
        return False
    if document.pdf.name:
        document.pdf.storage.delete(document.pdf.name)  # first: a failure retries
    document.delete()
    return True


@receiver(signals.booking_confirmed, dispatch_uid="tickets.render_document")
def enqueue_document_render(sender, booking_id, **kwargs):
    """Sent after commit already; on_commit runs the enqueue at once outside a
    transaction, and after commit inside one. A failure to enqueue is logged, not
    raised: the booking is committed, other receivers must run, and the download
    renders the PDF when it is missing."""
    from .tasks import booking_document_render_task

    _enqueue(booking_document_render_task, booking_id)


@receiver(signals.booking_released, dispatch_uid="tickets.delete_document")
def enqueue_document_delete(sender, booking_id, **kwargs):
    from .tasks import booking_document_delete_task

    _enqueue(booking_document_delete_task, booking_id)


def _enqueue(task, booking_id: int) -> None:
    def send() -> None:
        try:
            task.delay(booking_id)
        except Exception:
            logger.exception("Could not run %s for booking %s", task.name, booking_id)

    transaction.on_commit(send)
