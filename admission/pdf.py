"""A booking's tickets as one PDF (WeasyPrint), one page per ticket."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from django.template.loader import render_to_string
from django.utils import timezone, translation
from weasyprint import HTML

from bookings.models import Booking, Ticket

from .qr import qr_png

TEMPLATE = "admission/tickets_pdf.html"


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tickets_pdf_render(booking: Booking, tickets: Sequence[Ticket]) -> bytes:
    """The PDF of `tickets` (with attendee and ticket_type loaded), in the booking's
    language, times on the session's (venue's) clock. `booking` needs event,
    session__venue and organiser loaded."""
    event = booking.event
    session = booking.session
    # The template's date filters show times in the current zone: the session's.
    with translation.override(booking.language), timezone.override(session.tzinfo):
        html = render_to_string(
            TEMPLATE,
            {
                "booking": booking,
                "event": event,
                "session": session,
                "venue": session.venue,
                "organiser": booking.organiser,
                "taxes": booking.taxes,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "tickets": [
                    {"ticket": ticket, "qr": png_data_uri(qr_png(ticket.secret))}
                    for ticket in tickets
                ],
            },
        )
        return HTML(string=html).write_pdf()
