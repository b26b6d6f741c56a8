"""The checkout as a buyer sees it, in Chromium against the live server.

Each step is saved under test-artifacts/browser/<test>/ to be looked at. Card payment
itself needs js.stripe.com (blocked here): the buyer's payment is simulated on the
local Stripe fake, then reported by a signed webhook, as Stripe would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from bookings.models import Booking
from bookings.tests.helpers import hold
from events.tests.factories import EventFactory, SessionFactory, TicketTypeFactory
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

BOOKING_URL = re.compile(r"/b/(?P<reference>[A-Z0-9-]+)/\?t=")
FRENCH_PO = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def _event(*, title: str, price_minor: int, capacity: int = 10, **ticket):
    event = EventFactory(title=title)
    session = SessionFactory(event=event, capacity=capacity)
    ticket_type = TicketTypeFactory(
        event=event, price_minor=price_minor, max_per_order=10, **ticket
    )
    return event, session, ticket_type


def _open_checkout(page, live_server, shoot, event, session):
    """Event page, then its session's Book link."""
    page.goto(f"{live_server.url}/e/{event.slug}/")
    expect(page.locator("h1")).to_have_text(event.title)
    shoot(page, "event-page")
    page.locator(f"#session-{session.pk} .session__action a").click()
    page.wait_for_url(f"**/e/{event.slug}/checkout/?session={session.pk}")
    expect(page.locator("select[name=session]")).to_have_value(str(session.pk))
    shoot(page, "checkout")


def _choose(page, shoot, ticket_type, quantity: int):
    page.locator(f"input[name=qty_{ticket_type.pk}]").fill(str(quantity))
    page.locator("button[name=action][value=update]").click()
    expect(page.locator(f"input[name=attendee_name_{quantity - 1}]")).to_be_visible()
    expect(page.locator(f"input[name=attendee_name_{quantity}]")).to_have_count(0)
    expect(page.locator(f"input[name=qty_{ticket_type.pk}]")).to_have_value(
        str(quantity)
    )
    shoot(page, "updated")


def _fill_buyer(page, name="Ada Lovelace", email="ada@example.org", phone=""):
    page.locator("input[name=buyer_name]").fill(name)
    page.locator("input[name=buyer_email]").fill(email)
    page.locator("input[name=buyer_phone]").fill(phone)


def _book(page):
    page.locator("button[name=action][value=book]").click()


def _reference(page) -> str:
    page.wait_for_url(BOOKING_URL)
    return BOOKING_URL.search(page.url)["reference"]


def _field(page, name: str):
    """The .field block around the input `name` (label, input, its errors)."""
    return page.locator(".field").filter(has=page.locator(f"[name={name}]"))


def test_free_booking_end_to_end(page, live_server, shoot):
    event, session, ticket_type = _event(
        title="Open Rehearsal", price_minor=0, name="Free entry"
    )
    _open_checkout(page, live_server, shoot, event, session)

    _choose(page, shoot, ticket_type, 2)
    expect(page.locator("[data-testid=total]")).to_have_text("Free")

    page.locator("input[name=attendee_name_0]").fill("Grace Hopper")
    page.locator("input[name=attendee_email_0]").fill("grace@example.org")
    page.locator("input[name=attendee_name_1]").fill("Alan Turing")
    _fill_buyer(page, phone="+33 6 12 34 56 78")
    shoot(page, "filled")
    _book(page)

    reference = _reference(page)
    status = page.locator("[data-testid=status]")
    expect(status).to_have_attribute("data-state", "confirmed")
    expect(status).to_contain_text("Your booking is confirmed")
    expect(page.locator("h1")).to_contain_text(reference)
    expect(page.locator("ul.attendees li")).to_contain_text(
        ["Grace Hopper", "Alan Turing"]
    )
    expect(page.locator("#stripe-form")).to_have_count(0)
    shoot(page, "confirmed")

    booking = Booking.objects.get(reference=reference)
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.buyer_phone == "+33612345678"
    assert booking.attendees.count() == 2


def test_paid_booking_confirmed_by_the_stripe_webhook(
    page, live_server, shoot, stripe_fake, settings
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    event, session, ticket_type = _event(
        title="Piano Night", price_minor=4500, name="Standard"
    )
    _open_checkout(page, live_server, shoot, event, session)

    _choose(page, shoot, ticket_type, 2)
    expect(page.locator("[data-testid=total]")).to_contain_text("90")
    page.locator("input[name=attendee_name_0]").fill("Grace Hopper")
    page.locator("input[name=attendee_name_1]").fill("Alan Turing")
    _fill_buyer(page)
    shoot(page, "filled")
    _book(page)

    reference = _reference(page)
    status = page.locator("[data-testid=status]")
    expect(status).to_have_attribute("data-state", "pending")
    expect(status).to_contain_text("Pay to confirm your seats")
    expect(page.locator("#stripe-form")).to_have_attribute(
        "data-publishable-key", "pk_test_fake"
    )
    shoot(page, "pending-payment")

    # The buyer pays in Stripe's Payment Element; Stripe then tells us by webhook.
    payment = Payment.objects.get(booking__reference=reference)
    assert payment.provider_reference.startswith("pi_")
    intent_id = payment.provider_reference
    stripe_fake.succeed(intent_id)
    body, signature = stripe_fake.signed_event(
        "payment_intent.succeeded", stripe_fake.payment_intent(intent_id)
    )
    response = page.request.post(
        f"{live_server.url}/webhooks/stripe/",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert response.status == 200, response.text()

    page.reload()
    expect(status).to_have_attribute("data-state", "confirmed")
    expect(status).to_contain_text("Your booking is confirmed")
    expect(page.locator("ul.attendees li")).to_contain_text(
        ["Grace Hopper", "Alan Turing"]
    )
    expect(page.locator("#stripe-form")).to_have_count(0)
    shoot(page, "confirmed")
    assert Booking.objects.get(reference=reference).status == Booking.Status.CONFIRMED


def test_validation_errors_sit_next_to_fields_and_keep_typed_values(
    page, live_server, shoot
):
    event, session, ticket_type = _event(title="Poetry Slam", price_minor=0)
    _open_checkout(page, live_server, shoot, event, session)
    _choose(page, shoot, ticket_type, 2)

    page.locator("input[name=attendee_name_0]").fill("Grace Hopper")
    page.locator("input[name=attendee_email_0]").fill("grace@example.org")
    _fill_buyer(page, email="ada-at-example.org")
    _book(page)

    email = _field(page, "buyer_email")
    expect(email).to_have_class(re.compile(r"\bfield--invalid\b"))
    expect(email.locator(".field-error")).to_contain_text("valid email")
    missing = _field(page, "attendee_name_1")
    expect(missing).to_have_class(re.compile(r"\bfield--invalid\b"))
    expect(missing.locator(".field-error")).to_contain_text("required")
    expect(page.locator("input[name=buyer_email]")).to_have_attribute(
        "aria-invalid", "true"
    )
    # What was typed is still there; valid fields show no error.
    expect(page.locator("input[name=buyer_email]")).to_have_value("ada-at-example.org")
    expect(page.locator("input[name=buyer_name]")).to_have_value("Ada Lovelace")
    expect(page.locator("input[name=attendee_name_0]")).to_have_value("Grace Hopper")
    expect(page.locator("input[name=attendee_email_0]")).to_have_value(
        "grace@example.org"
    )
    expect(page.locator(f"input[name=qty_{ticket_type.pk}]")).to_have_value("2")
    expect(_field(page, "buyer_name").locator(".field-error")).to_have_count(0)
    expect(page.locator(".field-error")).to_have_count(2)
    shoot(page, "errors")
    assert not Booking.objects.exists()

    page.locator("input[name=buyer_email]").fill("ada@example.org")
    page.locator("input[name=attendee_name_1]").fill("Alan Turing")
    _book(page)
    _reference(page)
    expect(page.locator("[data-testid=status]")).to_have_attribute(
        "data-state", "confirmed"
    )
    shoot(page, "fixed-and-confirmed")


def test_sold_out_says_so_and_offers_another_date(page, live_server, shoot):
    event, session, ticket_type = _event(
        title="Tiny Club Gig", price_minor=2500, capacity=3, name="Standing"
    )
    hold(session, (ticket_type, 2))  # one seat left
    _open_checkout(page, live_server, shoot, event, session)
    _choose(page, shoot, ticket_type, 2)
    page.locator("input[name=attendee_name_0]").fill("Grace Hopper")
    page.locator("input[name=attendee_name_1]").fill("Alan Turing")
    _fill_buyer(page)
    _book(page)

    alert = page.locator("[role=alert]")
    expect(alert).to_contain_text("Not enough seats left")
    another_date = alert.get_by_role("link", name="Pick another date")
    expect(another_date).to_be_visible()
    # Typed values survive, so the buyer only lowers the quantity.
    expect(page.locator("input[name=attendee_name_1]")).to_have_value("Alan Turing")
    shoot(page, "sold-out")
    assert Booking.objects.count() == 1

    another_date.click()
    page.wait_for_url(f"**/e/{event.slug}/")
    expect(page.locator(f"#session-{session.pk}")).to_be_visible()
    shoot(page, "back-to-dates")


def _french(msgid: str) -> str:
    """The French for `msgid` in locale/fr/LC_MESSAGES/django.po as it is now: ""
    when the file, the entry or its translation is missing, or it is fuzzy."""
    if not FRENCH_PO.exists():
        return ""
    for entry in FRENCH_PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in entry.splitlines():
            line = line.strip()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith("#") or not line:
                continue
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
            else:
                key, _, value = line.partition(" ")
                fields[key] = value.strip()[1:-1]
        if fields.get("msgid", "").replace('\\"', '"') == msgid and not fuzzy:
            return fields.get("msgstr", "").replace('\\"', '"')
    return ""


def test_event_page_and_checkout_in_french(new_page, live_server, shoot):
    event, session, ticket_type = _event(title="Soirée Jazz", price_minor=1500)
    page = new_page(locale="fr-FR")  # Accept-Language: fr-FR

    page.goto(f"{live_server.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    shoot(page, "events-fr")

    page.goto(f"{live_server.url}/e/{event.slug}/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    book = page.locator(f"#session-{session.pk} .session__action a")
    if french := _french("Book"):
        expect(book).to_contain_text(french)
    shoot(page, "event-page-fr")

    book.click()
    page.wait_for_url(f"**/e/{event.slug}/checkout/?session={session.pk}")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    if french := _french("Book and go to payment"):
        expect(page.locator("button[name=action][value=book]")).to_have_text(french)
    if french := _french("Update tickets and price"):
        expect(page.locator("button[name=action][value=update]")).to_have_text(french)
    shoot(page, "checkout-fr")


def test_language_switcher_turns_the_page_french(page, live_server, shoot):
    event, session, ticket_type = _event(title="Poetry Brunch", price_minor=1500)
    page.goto(f"{live_server.url}/e/{event.slug}/checkout/?session={session.pk}")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, "checkout-en")

    page.locator("#language-select").select_option("fr")
    page.locator(".language-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.wait_for_url(f"**/e/{event.slug}/checkout/?session={session.pk}")
    expect(page.locator("#language-select")).to_have_value("fr")
    if french := _french("Book and go to payment"):
        expect(page.locator("button[name=action][value=book]")).to_have_text(french)
    shoot(page, "checkout-fr")
