import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from admission.models import BookingDocument
from admission.qr import qr_code, qr_png
from admission.services import (
    TicketsUnavailable,
    booking_document_get_or_render,
    ticket_qr_png,
)
from bookings.access import booking_access_token
from bookings.models import Booking, Ticket
from bookings.services import booking_cancel, booking_confirm, booking_mark_refunded
from bookings.tests.helpers import hold
from bookings.tickets import rows as ticket_services
from bookings.tickets.rows import tickets_issue_rows
from events.tests.factories import SessionFactory, TicketTypeFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "tickets"
CODE = re.compile(r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
# 17:30 UTC on a summer Saturday is 19:30 in Paris (CEST).
STARTS_AT = dt.datetime(2030, 6, 15, 17, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def session(db):
    return SessionFactory(
        capacity=200,
        starts_at=STARTS_AT,
        ends_at=STARTS_AT + dt.timedelta(hours=2),
        event__title="Masterclass Chopin",
        event__timezone="Europe/Paris",
        venue__name="Salle Cortot",
        venue__address="78 rue Cardinet",
    )


@pytest.fixture
def ticket_type(session):
    return TicketTypeFactory(
        event=session.event, name="Regular", price_minor=4500, max_per_order=100
    )


def confirmed(session, ticket_type, quantity=3, **kwargs) -> Booking:
    booking = hold(session, (ticket_type, quantity), **kwargs)
    return booking_confirm(booking_id=booking.pk)


def test_confirm_issues_one_valid_ticket_per_attendee(session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=3)

    tickets = list(booking.tickets.order_by("attendee_id"))
    assert [t.attendee_id for t in tickets] == list(
        booking.attendees.values_list("pk", flat=True)
    )
    assert {t.status for t in tickets} == {Ticket.Status.VALID}
    assert all(t.created_at and t.checked_in_at is None for t in tickets)
    assert {(t.organiser_id, t.session_id, t.ticket_type_id) for t in tickets} == {
        (session.event.organiser_id, session.pk, ticket_type.pk)
    }
    assert all(CODE.match(t.code) for t in tickets)
    assert len({t.code for t in tickets}) == 3
    assert all(len(t.secret) >= 43 for t in tickets)
    assert len({t.secret for t in tickets}) == 3


def test_a_hold_has_no_tickets_until_confirmed(session, ticket_type):
    booking = hold(session, (ticket_type, 2))

    assert booking.tickets.count() == 0


def test_confirming_twice_issues_nothing_more(session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=2)
    before = list(booking.tickets.values_list("pk", "code", "secret"))

    booking_confirm(booking_id=booking.pk)
    assert tickets_issue_rows(booking) == 0

    assert list(booking.tickets.values_list("pk", "code", "secret")) == before


def test_a_free_booking_has_its_tickets_at_once(session):
    free = TicketTypeFactory(event=session.event, price_minor=0)

    booking = hold(session, (free, 2))

    assert booking.status == Booking.Status.CONFIRMED
    assert booking.tickets.filter(status=Ticket.Status.VALID).count() == 2


@pytest.mark.parametrize("release", [booking_cancel, booking_mark_refunded])
def test_cancel_and_refund_void_the_tickets(session, ticket_type, release):
    booking = confirmed(session, ticket_type, quantity=2)

    release(booking_id=booking.pk)

    assert list(booking.tickets.values_list("status", flat=True)) == ["void"] * 2


def test_a_code_drawn_twice_is_drawn_again(session, ticket_type, monkeypatch):
    taken = confirmed(session, ticket_type, quantity=1).tickets.get().code
    draws = iter([taken, "2222-2222", "3333-3333"])
    monkeypatch.setattr(ticket_services, "ticket_code_new", lambda: next(draws))

    booking = confirmed(session, ticket_type, quantity=2)

    assert booking.status == Booking.Status.CONFIRMED
    assert sorted(booking.tickets.values_list("code", flat=True)) == [
        "2222-2222",
        "3333-3333",
    ]
    assert Ticket.objects.filter(code=taken).count() == 1


def test_the_qr_code_is_300px_and_carries_the_secret(session, ticket_type):
    ticket = confirmed(session, ticket_type, quantity=1).tickets.get()

    image = Image.open(io.BytesIO(ticket_qr_png(ticket)))
    results = zxingcpp.read_barcodes(image)

    assert image.format == "PNG"
    assert image.size == (300, 300)
    assert [r.text for r in results] == [ticket.secret]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    assert results[0].ec_level == "H"


@pytest.mark.parametrize("size", [300, 150])
def test_the_qr_image_is_qrcodes_own_drawing_pixel_for_pixel(size):
    """qr_png scales the module matrix itself; it must draw what qrcode would."""
    secret = "kQ9_wXr2-Lq0vYbF3nT7sUeH1aZcM5dJ8pRgK4iO6yW"
    code = qr_code(secret)
    code.box_size = size // (code.modules_count + 8)
    symbol = code.make_image().get_image().convert("1")
    expected = Image.new("1", (size, size), 1)
    offset = (size - symbol.size[0]) // 2
    expected.paste(symbol, (offset, offset))

    drawn = Image.open(io.BytesIO(qr_png(secret, size=size)))

    assert drawn.size == expected.size
    assert drawn.convert("1").tobytes() == expected.tobytes()


def pdf_texts(document: BookingDocument) -> list[str]:
    with document.pdf.open("rb") as pdf:
        return [page.extract_text() for page in PdfReader(pdf).pages]


def test_the_pdf_has_one_page_per_ticket_with_its_details(session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=3)

    document = booking_document_get_or_render(booking.pk)

    assert re.fullmatch(
        rf"tickets/[\w-]{{32}}/{booking.reference}\.pdf", document.pdf.name
    )
    pages = pdf_texts(document)
    tickets = list(booking.tickets.select_related("attendee"))
    assert len(pages) == 3
    for page, ticket in zip(pages, tickets, strict=True):
        assert ticket.attendee.name in page
        assert ticket.code in page
        for text in (
            "Regular",
            "Masterclass Chopin",
            "Salle Cortot",
            "78 rue Cardinet",
            "Saturday 15 June 2030",
            "19:30",  # the event's clock: 17:30 UTC
            session.event.organiser.name,
            "hello@example.com",
        ):
            assert text in page
        assert "17:30" not in page


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None,
    reason="pdftoppm missing (apt-get install poppler-utils): no page image",
)
def test_the_first_page_as_an_image_scans(session, ticket_type):
    """Saves page 1 for people to look at; its QR code must scan even at 60 dpi."""
    booking = confirmed(session, ticket_type, quantity=2)
    document = booking_document_get_or_render(booking.pk)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"]
        + [document.pdf.path, str(ARTIFACTS / "ticket-page")],
        check=True,
        timeout=60,
    )

    image = Image.open(ARTIFACTS / "ticket-page.png")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [
        booking.tickets.first().secret
    ]


def test_the_pdf_speaks_the_booking_language(session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=1, language="fr")

    (page,) = pdf_texts(booking_document_get_or_render(booking.pk))

    assert "samedi 15 juin 2030" in page
    assert "19:30" in page


def test_the_pdf_is_rendered_once_and_again_when_its_file_is_gone(session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=1)
    first = booking_document_get_or_render(booking.pk)

    assert booking_document_get_or_render(booking.pk).pdf.name == first.pdf.name
    first.pdf.storage.delete(first.pdf.name)
    again = booking_document_get_or_render(booking.pk)

    assert again.pk == first.pk
    assert again.pdf.name != first.pdf.name
    assert again.pdf.storage.exists(again.pdf.name)
    assert BookingDocument.objects.filter(booking=booking).count() == 1


def _render_meanwhile(monkeypatch, side_effect):
    """Run `side_effect` while the PDF renders, as another process would."""
    from admission import pdf

    render = pdf.tickets_pdf_render

    def render_and_interfere(booking, tickets):
        monkeypatch.setattr(pdf, "tickets_pdf_render", render)
        side_effect(booking)
        return render(booking, tickets)

    monkeypatch.setattr(pdf, "tickets_pdf_render", render_and_interfere)


def stored_files(settings) -> list[Path]:
    return sorted(Path(settings.MEDIA_ROOT).rglob("*.pdf"))


def test_two_renders_at_once_keep_the_first_file(
    session, ticket_type, monkeypatch, settings
):
    booking = confirmed(session, ticket_type, quantity=1)
    other = []
    _render_meanwhile(
        monkeypatch,
        lambda b: other.append(booking_document_get_or_render(b.pk).pdf.name),
    )

    document = booking_document_get_or_render(booking.pk)

    assert document.pdf.name == other[0]
    assert stored_files(settings) == [Path(document.pdf.path)]


def test_a_booking_released_while_rendering_keeps_no_pdf(
    session, ticket_type, monkeypatch, settings
):
    booking = confirmed(session, ticket_type, quantity=1)
    _render_meanwhile(monkeypatch, lambda b: booking_cancel(booking_id=b.pk))

    with pytest.raises(TicketsUnavailable):
        booking_document_get_or_render(booking.pk)

    assert not BookingDocument.objects.filter(booking=booking).exists()
    assert stored_files(settings) == []


def test_no_pdf_for_a_booking_not_confirmed(session, ticket_type):
    booking = hold(session, (ticket_type, 1))

    with pytest.raises(TicketsUnavailable):
        booking_document_get_or_render(booking.pk)
    assert not BookingDocument.objects.filter(booking=booking).exists()


def test_after_commit_a_task_renders_the_pdf_and_a_cancel_removes_it(
    session, ticket_type, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 2))
    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk)
    document = BookingDocument.objects.get(booking=booking)
    storage, name = document.pdf.storage, document.pdf.name
    assert len(pdf_texts(document)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk)

    assert not BookingDocument.objects.filter(booking=booking).exists()
    assert not storage.exists(name)


def url(booking, suffix, token=False):
    query = f"?t={booking_access_token(booking.reference)}" if token else ""
    return f"/b/{booking.reference}/{suffix}{query}"


def test_downloads_need_the_booking_access(client, session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=1)
    code = booking.tickets.get().code

    assert client.get(url(booking, "tickets.pdf")).status_code == 404
    assert client.get(url(booking, f"tickets/{code}.png")).status_code == 404
    assert not BookingDocument.objects.filter(booking=booking).exists()


def test_the_pdf_download_with_access(client, session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=2)

    response = client.get(url(booking, "tickets.pdf", token=True))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "private" in response["Cache-Control"]
    content = b"".join(response.streaming_content)
    assert content.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(content)).pages) == 2


def test_the_qr_download_with_access(client, session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=2)
    ticket = booking.tickets.first()
    other = confirmed(session, ticket_type, quantity=1).tickets.get()

    response = client.get(url(booking, f"tickets/{ticket.code}.png", token=True))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [ticket.secret]
    # The session now remembers the booking; another booking's code is still a 404.
    assert client.get(url(booking, f"tickets/{other.code}.png")).status_code == 404


def test_no_downloads_for_a_cancelled_booking(client, session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=1)
    code = booking.tickets.get().code
    booking_cancel(booking_id=booking.pk)

    assert client.get(url(booking, "tickets.pdf", token=True)).status_code == 404
    assert client.get(url(booking, f"tickets/{code}.png")).status_code == 404


def test_the_booking_page_lists_the_tickets(client, session, ticket_type):
    booking = confirmed(session, ticket_type, quantity=2)

    response = client.get(url(booking, "", token=True))

    html = response.content.decode()
    assert f'href="/b/{booking.reference}/tickets.pdf"' in html
    for ticket in booking.tickets.select_related("attendee"):
        assert f'<code data-testid="ticket-code">{ticket.code}</code>' in html
        assert f'href="/b/{booking.reference}/tickets/{ticket.code}.png"' in html
