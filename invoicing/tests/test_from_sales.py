"""Invoices from sales: asked for at checkout, issued on confirmation with the
booking's figures, attached to the confirmation email as a PDF whose totals are the
database's, credited on refund."""

import re
from decimal import Decimal
from io import BytesIO

import pytest
from django.core import mail
from pypdf import PdfReader

from bookings.models import Booking
from bookings.services import booking_confirm
from events.models import Organiser
from events.tests.factories import SessionFactory, TaxRateFactory, TicketTypeFactory
from invoicing.models import Invoice
from invoicing.pdf import invoice_pdf_render
from notifications.models import Notification
from notifications.services.sending import notification_send
from payments import signals as payment_signals
from payments.models import Refund

pytestmark = pytest.mark.django_db


def _pdf_text(pdf: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def session():
    session = SessionFactory(capacity=20, event__currency="EUR")
    organiser = session.event.organiser
    organiser.legal_name = "Rire SARL"
    organiser.legal_address = "3 rue des Arts, 75003 Paris"
    organiser.tax_id = "FR12345678901"
    organiser.price_mode = Organiser.PriceMode.INCLUSIVE
    organiser.save()
    return session


@pytest.fixture
def ticket_type(session):
    rate = TaxRateFactory(
        organiser=session.event.organiser, name="TVA", percent=Decimal("20")
    )
    return TicketTypeFactory(
        event=session.event, price_minor=4500, max_per_order=10, tax_rate=rate
    )


def _checkout(client, session, ticket_type, quantity=2, **extra):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "token": "tok-1",
        "action": "book",
        **{f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)},
        **extra,
    }
    return client.post(
        f"/e/{session.event.slug}/checkout/", data, HTTP_ACCEPT_LANGUAGE="fr"
    )


def test_checkout_invoice_request_needs_a_company_name(client, session, ticket_type):
    response = _checkout(client, session, ticket_type, invoice_requested="on")
    assert response.status_code == 400
    assert "Indiquez le nom de la société pour la facture." in response.content.decode()
    assert not Booking.objects.exists()


def test_confirmed_booking_gets_its_invoice_by_email_with_matching_totals(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    response = _checkout(
        client,
        session,
        ticket_type,
        invoice_requested="on",
        billing_name="Acme SAS",
        billing_address="1 avenue de France, Paris",
        billing_tax_id="FR99999999999",
    )
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.invoice_requested, booking.billing_name) == (True, "Acme SAS")
    assert not Invoice.objects.exists()  # pending: nothing to invoice yet

    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk, actor="test")

    invoice = Invoice.objects.get(booking=booking)
    assert invoice.type == Invoice.Type.SALES
    assert invoice.status == Invoice.Status.PAID
    assert invoice.display_number == "INV-000001"
    assert (invoice.recipient_name, invoice.recipient_tax_id) == (
        "Acme SAS",
        "FR99999999999",
    )
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (
        booking.total_minor - booking.tax_minor,
        booking.tax_minor,
        booking.total_minor,
    )
    assert (invoice.tax_minor, invoice.total_minor) == (1500, 9000)

    notification = booking.notifications.get(
        channel=Notification.Channel.EMAIL,
        template=Notification.Template.CONFIRMATION,
    )
    notification_send(notification.pk)
    names = [name for name, _content, _type in mail.outbox[-1].attachments]
    assert f"sales-{invoice.display_number}.pdf" in names
    content = dict((name, body) for name, body, _type in mail.outbox[-1].attachments)[
        f"sales-{invoice.display_number}.pdf"
    ]
    text = _pdf_text(content)
    # The buyer's language (French), the organiser's legal details, the totals.
    assert "Rire SARL" in text
    assert "FR12345678901" in text
    assert "Acme SAS" in text
    assert "Total hors taxes 75,00 EUR" in text
    assert "TVA 20 % 15,00 EUR" in text
    assert "Total 90,00 EUR" in text


def test_no_invoice_for_a_booking_that_did_not_ask_is_not_emailed(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    _checkout(client, session, ticket_type)
    booking = Booking.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk, actor="test")
    # Every paid booking is invoiced (to the buyer); only those who asked get it.
    assert Invoice.objects.get(booking=booking).recipient_name == "Ada Lovelace"
    notification = booking.notifications.get(
        channel=Notification.Channel.EMAIL,
        template=Notification.Template.CONFIRMATION,
    )
    notification_send(notification.pk)
    assert not any(
        name.startswith("sales-") for name, _c, _t in mail.outbox[-1].attachments
    )


def test_a_refund_issues_the_credit_note_once(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    _checkout(client, session, ticket_type)
    booking = Booking.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk, actor="test")
    invoice = Invoice.objects.get(booking=booking)
    for _ in range(2):  # a replayed signal credits nothing more
        payment_signals.refund_succeeded.send(
            sender=Refund, refund_id=7, booking_id=booking.pk, amount_minor=4500
        )
    note = Invoice.objects.get(type=Invoice.Type.CREDIT_NOTE)
    invoice.refresh_from_db()
    assert note.parent == invoice
    assert (note.total_minor, note.tax_minor, note.display_number) == (
        4500,
        750,
        "CN-000001",
    )
    assert invoice.credited_minor == 4500
    assert note.status == Invoice.Status.PAID  # paid back by the refund
    text = _pdf_text(invoice_pdf_render(note))
    assert invoice.display_number in text


def test_partner_api_reads_the_invoice_of_its_bookings_only(
    client, session, ticket_type, django_capture_on_commit_callbacks
):
    from partner_api.tests.api_fixtures import api_key

    _checkout(client, session, ticket_type)
    booking = Booking.objects.get()
    plain = api_key(session.event.organiser)
    url = f"/api/v1/bookings/{booking.reference}/invoice/"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    assert client.get(url, **auth).status_code == 404  # pending: no invoice yet
    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk, actor="test")
    body = client.get(url, **auth).json()
    assert body["number"] == "INV-000001"
    assert (body["subtotal"], body["tax"], body["total"]) == (
        {"amount": 7500, "currency": "EUR"},
        {"amount": 1500, "currency": "EUR"},
        {"amount": 9000, "currency": "EUR"},
    )
    pdf = client.get(body["pdf_url"].replace("http://testserver", ""), **auth)
    assert pdf.status_code == 200
    assert "Total 90,00 EUR" in _pdf_text(pdf.content) or "Total 90.00 EUR" in (
        _pdf_text(pdf.content)
    )
    other = api_key(SessionFactory().event.organiser)
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404
    assert client.get(url).status_code == 401
