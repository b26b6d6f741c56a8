"""A booking's tickets as one PDF (WeasyPrint), one page per ticket."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence

from django.template.loader import render_to_string
from django.utils import timezone, translation
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from bookings.models import Booking, Ticket

from .qr import qr_png

TEMPLATE = "admission/tickets_pdf.html"
STYLESHEET = "admission/tickets_pdf.css"

# WeasyPrint builds a FontConfiguration (fontconfig's font list) for every document
# unless given one: ~15-25 ms of a 1-ticket PDF's ~90 ms of CPU (bench/tickets.py).
# One per thread, kept: a worker renders one booking after another.
_fonts = threading.local()


def _font_config() -> FontConfiguration:
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def _stylesheet() -> CSS:
    """The tickets' CSS, parsed once per thread rather than from a <style> in every
    document: a quarter of a 1-ticket PDF's CPU once fonts are subset by HarfBuzz."""
    sheet = getattr(_fonts, "stylesheet", None)
    if sheet is None:
        sheet = _fonts.stylesheet = CSS(
            string=render_to_string(STYLESHEET), font_config=_font_config()
        )
    return sheet


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tickets_pdf_html(booking: Booking, tickets: Sequence[Ticket]) -> str:
    """The HTML `tickets_pdf_render` hands WeasyPrint (same arguments)."""
    session = booking.session
    # The template's date filters show times in the current zone: the session's.
    with translation.override(booking.language), timezone.override(session.tzinfo):
        return render_to_string(
            TEMPLATE,
            {
                "booking": booking,
                "event": booking.event,
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


def html_pdf(html: str) -> bytes:
    return HTML(string=html).write_pdf(
        stylesheets=[_stylesheet()], font_config=_font_config()
    )


def tickets_pdf_render(booking: Booking, tickets: Sequence[Ticket]) -> bytes:
    """The PDF of `tickets` (with attendee and ticket_type loaded), in the booking's
    language, times on the session's (venue's) clock. `booking` needs event,
    session__venue and organiser loaded."""
    return html_pdf(tickets_pdf_html(booking, tickets))
