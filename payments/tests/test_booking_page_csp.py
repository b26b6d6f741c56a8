"""The booking page's Content-Security-Policy lets in what its payment step needs
(Stripe.js, Paystack's checkout as a form target) and nothing for a page without one."""

from __future__ import annotations

import pytest

from bookings.access import booking_page_path
from bookings.tests.helpers import hold
from events.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, set[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


def test_stripe_step_allows_stripe_js_its_frames_and_api(
    client, session, ticket_type, stripe_fake, settings
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_shown"
    booking = hold(session, (ticket_type, 1))

    response = client.get(booking_page_path(booking.reference))

    html = response.content.decode()
    assert 'data-publishable-key="pk_test_shown"' in html
    policy = _policy(response)
    assert policy["script-src"] == {
        "'self'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
    }
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= policy["frame-src"]
    assert policy["connect-src"] == {"'self'", "https://api.stripe.com"}
    assert policy["style-src"] == {"'self'"}
    assert policy["form-action"] == {"'self'"}
    # The page's own script is a file the policy allows, not inline code.
    assert '<script src="/static/js/booking.js">' in html
    assert "<script>" not in html
    assert "style=" not in html


def test_paystack_step_allows_its_checkout_as_the_form_target(
    client, session, ticket_type, paystack_fake, settings
):
    settings.PAYSTACK_SECRET_KEY = paystack_fake.secret_key
    settings.PAYSTACK_PUBLIC_KEY = "pk_test_paystack"
    booking = hold(session, (ticket_type, 1))

    response = client.get(booking_page_path(booking.reference))

    assert "Pay with Paystack" in response.content.decode()
    policy = _policy(response)
    assert policy["form-action"] == {"'self'", "https://checkout.paystack.com"}
    assert policy["script-src"] == {"'self'"}


def test_a_page_without_a_payment_step_keeps_the_strict_policy(
    client, session, settings, stripe_fake
):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    free = TicketTypeFactory(event=session.event, price_minor=0)
    booking = hold(session, (free, 1))

    response = client.get(booking_page_path(booking.reference))

    policy = _policy(response)
    assert policy["script-src"] == {"'self'"}
    assert policy["form-action"] == {"'self'"}
    assert "frame-src" not in policy
    assert "js.stripe.com" not in response.content.decode()
