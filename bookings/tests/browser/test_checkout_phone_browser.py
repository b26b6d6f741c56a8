"""The checkout on a phone (390×844), in Chromium against the live server (issue
18): the error summary appears, takes focus and its links lead to the fields;
prices, seats left and limits sit beside each quantity; a failed payment gives the
seats back at once (availability checked before and after) and offers a way back.

Screenshots for the README are saved to docs/screenshots/ as well as the usual
test-artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from bookings.models import Booking
from bookings.tests.helpers import hold
from events.tests.factories import EventFactory, SessionFactory, TicketTypeFactory
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = Path(settings.BASE_DIR) / "docs" / "screenshots"
BOOKING_URL = re.compile(r"/b/(?P<reference>[A-Z0-9-]+)/")


def _for_docs(path: Path, name: str) -> None:
    """Refresh the README's screenshot only when asked (SAVE_DOC_SCREENSHOTS=1): a
    test run must not rewrite tracked files."""
    if os.environ.get("SAVE_DOC_SCREENSHOTS") != "1":
        return
    DOCS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS / name)


def _concert():
    event = EventFactory(title="Jazz on the River", max_tickets_per_order=20)
    session = SessionFactory(event=event, capacity=40)
    standard = TicketTypeFactory(
        event=event, name="Standard", price_minor=4500, max_per_order=10, position=1
    )
    group = TicketTypeFactory(
        event=event,
        name="Group (5 or more)",
        price_minor=3500,
        min_per_order=5,
        max_per_order=20,
        position=2,
    )
    vip = TicketTypeFactory(
        event=event, name="VIP", price_minor=9000, allocation=2, position=3
    )
    return event, session, standard, group, vip


def _meta(page, ticket_type):
    return page.locator(f"#id_qty_{ticket_type.pk}_meta")


def test_prices_seats_and_limits_beside_each_quantity_on_a_phone(
    phone, live_server, shoot
):
    event, session, standard, group, vip = _concert()
    hold(session, (vip, 2))
    hold(session, (standard, 3))
    phone.goto(f"{live_server.url}/e/{event.slug}/checkout/?session={session.pk}")

    expect(_meta(phone, standard)).to_contain_text("45.00 EUR")
    expect(_meta(phone, standard)).to_contain_text("35 left")
    expect(_meta(phone, standard)).to_contain_text("Up to 10 per order")
    expect(_meta(phone, group)).to_contain_text("5 to 20 per order")
    expect(_meta(phone, vip)).to_contain_text("Sold out")
    expect(phone.locator(f"#id_qty_{vip.pk}")).to_be_disabled()

    phone.locator(f"#id_qty_{standard.pk}").fill("2")
    phone.locator("button[name=action][value=update]").click()
    expect(phone.locator("[data-testid=total]")).to_contain_text("90.00 EUR")
    # The price table's cells say no ": " before the amounts on a phone.
    before = phone.locator(".summary td").first.evaluate(
        "cell => getComputedStyle(cell, '::before').content"
    )
    assert before in ("none", "normal")
    _for_docs(shoot(phone, "prices-and-seats"), "checkout-phone-prices.png")


def test_error_summary_takes_focus_and_links_to_the_field_on_a_phone(
    phone, live_server, shoot
):
    event, session, standard, group, vip = _concert()
    phone.goto(f"{live_server.url}/e/{event.slug}/checkout/?session={session.pk}")
    phone.locator(f"#id_qty_{group.pk}").fill("2")  # under the group's minimum
    phone.locator("input[name=buyer_name]").fill("Ada Lovelace")
    phone.locator("input[name=buyer_email]").fill("ada-at-example.org")
    phone.locator("button[name=action][value=book]").click()

    summary = phone.locator("[data-testid=error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary.locator("h2")).to_have_text("There is a problem")
    minimum = summary.get_by_role(
        "link", name=re.compile("At least 5 tickets of this type per order")
    )
    expect(minimum).to_have_attribute("href", f"#id_qty_{group.pk}")
    expect(summary.get_by_role("link", name=re.compile("^Email:"))).to_have_attribute(
        "href", "#id_buyer_email"
    )
    _for_docs(shoot(phone, "error-summary"), "checkout-phone-errors.png")

    minimum.click()
    quantity = phone.locator(f"#id_qty_{group.pk}")
    expect(quantity).to_be_focused()
    expect(quantity).to_be_in_viewport()
    field = phone.locator(".field--quantity").filter(has=quantity)
    expect(field.locator(".field-error")).to_contain_text("At least 5 tickets")
    shoot(phone, "followed-the-link")

    # The minimum stays flagged after "Update" too; fixing it clears it.
    quantity.fill("5")
    phone.locator("button[name=action][value=update]").click()
    expect(phone.locator("[data-testid=error-summary]")).to_have_count(0)
    expect(phone.locator("input[name=attendee_name_4]")).to_be_visible()


def test_a_failed_payment_frees_the_seats_and_offers_a_way_back(
    phone, live_server, shoot, stripe_fake, settings
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    event, session, standard, group, vip = _concert()
    checkout = f"{live_server.url}/e/{event.slug}/checkout/?session={session.pk}"
    phone.goto(checkout)
    expect(_meta(phone, standard)).to_contain_text("40 left")

    phone.locator(f"#id_qty_{standard.pk}").fill("3")
    phone.locator("button[name=action][value=update]").click()
    for index, name in enumerate(["Grace Hopper", "Alan Turing", "Ada Lovelace"]):
        phone.locator(f"input[name=attendee_name_{index}]").fill(name)
    phone.locator("input[name=buyer_name]").fill("Ada Lovelace")
    phone.locator("input[name=buyer_email]").fill("ada@example.org")
    phone.locator("button[name=action][value=book]").click()
    phone.wait_for_url(BOOKING_URL)
    reference = BOOKING_URL.search(phone.url)["reference"]
    status = phone.locator("[data-testid=status]")
    expect(status).to_have_attribute("data-state", "pending")

    before = phone.context.new_page()
    before.goto(checkout)
    expect(_meta(before, standard)).to_contain_text("37 left")  # held
    before.close()

    # The bank declines; Stripe tells us by webhook.
    payment = Payment.objects.get(booking__reference=reference)
    intent = stripe_fake.fail(
        payment.provider_reference,
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    )
    body, signature = stripe_fake.signed_event("payment_intent.payment_failed", intent)
    response = phone.request.post(
        f"{live_server.url}/webhooks/stripe/",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert response.status == 200, response.text()

    phone.reload()
    expect(status).to_have_attribute("data-state", "payment_failed")
    expect(phone.locator("[data-testid=failure-reason]")).to_have_text(
        "The card has insufficient funds. Try another card or payment method."
    )
    expect(phone.locator("#stripe-form")).to_have_count(0)
    _for_docs(shoot(phone, "payment-failed"), "booking-phone-payment-failed.png")
    assert Booking.objects.get(reference=reference).status == "cancelled"

    after = phone.context.new_page()
    after.goto(checkout)
    expect(_meta(after, standard)).to_contain_text("40 left")  # back at once
    after.close()

    phone.locator("[data-testid=rebook]").click()
    expect(phone.locator(f"#id_qty_{standard.pk}")).to_have_value("3")
    expect(phone.locator("input[name=attendee_name_1]")).to_have_value("Alan Turing")
    expect(phone.locator("input[name=buyer_email]")).to_have_value("ada@example.org")
    shoot(phone, "try-again-prefilled")
