"""Pages still work under the Content-Security-Policy, in Chromium: the browser
reports no violation, and the pages' own scripts run (Swagger UI draws the API docs,
the booking page counts down and explains that card payment could not load)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bookings.access import booking_page_path
from bookings.tests.helpers import hold
from events.models import Membership
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before any page script: the browser's own report of each blocked resource.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def watched(page):
    page.add_init_script(RECORD_VIOLATIONS)
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    assert page.evaluate("window.__csp") == []
    assert console == []


def test_api_docs_draw_swagger_ui(watched, live_server, shoot):
    watched.goto(f"{live_server.url}/api/docs/")

    expect(watched.locator(".swagger-ui .info .title")).to_contain_text(
        "Ticketing partner API"
    )
    expect(watched.locator(".opblock").first).to_be_visible()
    shoot(watched, "api-docs")


def test_booking_page_scripts_run(watched, live_server, shoot, stripe_fake, settings):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    session = SessionFactory(event=EventFactory(title="Piano Night"), capacity=10)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    booking = hold(session, (ticket_type, 1))

    watched.goto(live_server.url + booking_page_path(booking.reference))

    expect(watched.locator(".countdown")).to_have_text(re.compile(r"\(1[45]:\d\d\)"))
    # js.stripe.com is unreachable in tests: booking.js says so instead of hanging.
    expect(watched.locator("#stripe-form")).to_contain_text(
        "Card payment could not load"
    )
    shoot(watched, "booking-page")


def test_shop_admin_and_door_pages(watched, live_server, shoot):
    SessionFactory(event=EventFactory(title="Open Rehearsal"))
    user = UserFactory(username="door")
    MembershipFactory(
        user=user, organiser=OrganiserFactory(), role=Membership.Role.OWNER
    )

    watched.goto(f"{live_server.url}/")
    expect(watched.locator("body")).to_contain_text("Open Rehearsal")
    watched.goto(f"{live_server.url}/admin/login/")
    watched.locator("input[name=username]").fill("door")
    watched.locator("input[name=password]").fill("correct horse battery staple")
    watched.locator("input[type=submit]").click()
    watched.wait_for_url(f"{live_server.url}/admin/")
    shoot(watched, "admin")
    watched.goto(f"{live_server.url}/admin/events/event/add/")
    expect(watched.locator("#event_form")).to_be_visible()
    watched.goto(f"{live_server.url}/admin/otp/setup/")
    expect(watched.locator("[data-testid=otp-qr] svg")).to_be_visible()
    shoot(watched, "otp-setup")
    watched.goto(f"{live_server.url}/checkin/")
    expect(watched.locator("h1")).to_have_text("Check-in")
    shoot(watched, "door")
