"""Ticket downloads: the booking's PDF and each ticket's QR image.

The access rule is the booking page's (signed token or the session that booked), and
only a confirmed booking has tickets to download; anything else is a 404, so a
reference alone reveals nothing.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from bookings.access import booking_access_granted
from bookings.models import Booking, Ticket

from .services import TicketsUnavailable, booking_document_get_or_render, ticket_qr_png


def _confirmed_booking_or_404(request, reference: str) -> Booking:
    if not booking_access_granted(request, reference):
        raise Http404
    booking = Booking.objects.filter(
        reference=reference, status=Booking.Status.CONFIRMED
    ).first()
    if booking is None:
        raise Http404
    return booking


@require_GET
@never_cache
def booking_tickets_pdf(request, reference: str):
    """Locally the file is streamed; from S3 the answer is a redirect to a signed URL
    that expires after AWS_QUERYSTRING_EXPIRE seconds."""
    booking = _confirmed_booking_or_404(request, reference)
    try:
        document = booking_document_get_or_render(booking.pk)
    except TicketsUnavailable:
        raise Http404 from None
    storage, name = document.pdf.storage, document.pdf.name
    filename = f"tickets-{reference}.pdf"
    try:
        path = storage.path(name)
    except NotImplementedError:  # remote storage: no local path
        return HttpResponseRedirect(_signed_url(storage, name, filename))
    return FileResponse(
        open(path, "rb"),  # FileResponse closes it
        content_type="application/pdf",
        filename=filename,
    )


def _signed_url(storage, name: str, filename: str) -> str:
    from storages.backends.s3 import S3Storage

    if isinstance(storage, S3Storage):
        return storage.url(
            name,
            parameters={
                "ResponseContentType": "application/pdf",
                "ResponseContentDisposition": f'inline; filename="{filename}"',
            },
        )
    return storage.url(name)


@require_GET
@never_cache
def ticket_qr(request, reference: str, code: str):
    """Drawn on each request (a few ms): the secret is never written to storage."""
    booking = _confirmed_booking_or_404(request, reference)
    ticket = (
        Ticket.objects.filter(booking=booking, code=code)
        .exclude(status=Ticket.Status.VOID)
        .first()
    )
    if ticket is None:
        raise Http404
    response = HttpResponse(ticket_qr_png(ticket), content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="ticket-{code}.png"'
    return response
