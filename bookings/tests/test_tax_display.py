"""Net, tax and gross shown the same on the checkout, the booking page, the email, the
ticket PDF and the partner API, from the figures the pricing function wrote."""

import re
from decimal import Decimal

import pytest
from django.core import mail

from admission.pdf import tickets_pdf_render
from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.services import booking_confirm
from events.models import Organiser
from events.tests.factories import TaxRateFactory
from notifications.services.sending import notification_send
from partner_api.endpoints.serializers import BookingOutput, booking_output
from partner_api.tests.api_fixtures import (  # noqa: F401
    book,
    frozen_signing_clock_fixture,
    get,
    money,
    shop_fixture,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxed_shop(shop):
    organiser = shop["session"].event.organiser
    organiser.price_mode = Organiser.PriceMode.EXCLUSIVE
    organiser.save()
    rate = TaxRateFactory(
        organiser=organiser, name="TVA", percent=Decimal("20"), account_code="OUTPUT"
    )
    shop["regular"].tax_rate = rate
    shop["regular"].save()
    shop["rate"] = rate
    return shop


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.usefixtures("frozen_signing_clock")
def test_api_booking_shows_net_tax_and_the_gross_it_charges(client, taxed_shop):
    response = book(client, taxed_shop, 2)
    assert response.status_code == 201
    body = response.json()
    assert body["subtotal"] == money(9000)
    assert (body["net"], body["tax"], body["total"]) == (
        money(9000),
        money(1800),
        money(10800),
    )
    assert body["prices_include_tax"] is False
    assert body["lines"][0]["tax_rate"] == {
        "name": "TVA",
        "percent": "20.000",
        "code": "OUTPUT",
    }
    booking = Booking.objects.select_related("event").get()
    context = {"currency": "EUR", "tz": booking.event.tzinfo}
    assert booking_output(booking) == dict(BookingOutput(booking, context=context).data)
    assert get(client, "/api/schema/").content.count(b"tax_rate") >= 1


def test_quote_and_booking_agree(client, taxed_shop):
    from partner_api.tests.api_fixtures import basket, post

    quote = post(
        client, "/api/v1/quotes/", basket(taxed_shop, 2), taxed_shop["plain"]
    ).json()
    booking = book(client, taxed_shop, 2).json()
    for key in ("net", "tax", "total"):
        assert quote[key] == booking[key]


def test_booking_page_email_and_pdf_show_the_same_figures(
    client, taxed_shop, django_capture_on_commit_callbacks
):
    reference = book(client, taxed_shop, 2).json()["reference"]
    booking = Booking.objects.get(reference=reference)
    page = _text(client.get(booking_page_path(reference)).content.decode())
    assert "Total before tax 90.00 EUR" in page
    assert "TVA 20 % 18.00 EUR" in page
    assert "Total 108.00 EUR" in page

    with django_capture_on_commit_callbacks(execute=True):
        booking_confirm(booking_id=booking.pk, actor="test")
    notification = booking.notifications.get(channel="email", template="confirmation")
    notification_send(notification.pk)
    message = mail.outbox[-1]
    assert "Total before tax: 90.00 EUR" in message.body
    assert "TVA 20 %: 18.00 EUR" in message.body
    assert "Total: 108.00 EUR" in message.body

    booking = Booking.objects.select_related(
        "event", "session__venue", "organiser"
    ).get(pk=booking.pk)
    pdf = tickets_pdf_render(booking, list(booking.tickets.all()))
    from io import BytesIO

    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    text = re.sub(r"\s+", " ", text)
    assert "Booking total: 108.00 EUR" in text
    assert "Total before tax: 90.00 EUR" in text
    assert "TVA 20 %: 18.00 EUR" in text


def test_a_ticket_type_without_rate_shows_no_tax_line(client, shop):
    reference = book(client, shop, 1).json()["reference"]
    page = _text(client.get(booking_page_path(reference)).content.decode())
    assert "Total before tax" not in page
    assert "Total 45.00 EUR" in page
