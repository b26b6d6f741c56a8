"""A failed payment gives the seats back at once and tells the buyer what happened
and how to book again (issue 18, item 5): Paystack's `charge.failed` and a failed
verify on return, Stripe's `payment_intent.payment_failed` and a declined card on
the return page. Providers are the local fakes, speaking their wire formats."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone, translation

from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.selectors import session_availability
from bookings.tests.helpers import assert_links_to_rebook, hold
from events.tests.factories import OrganiserFactory, SessionFactory, TicketTypeFactory
from payments.failures import failure_reason
from payments.models import Payment
from payments.services import (
    offline_payment_enable,
    payment_offline_choose,
    payment_start,
)
from payments.tasks import payments_reconcile_task
from payments.tests.factories import PaymentFactory
from ticketing.tests.broker import broker_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

PAYSTACK_RETURN = "http://testserver/payments/paystack/return/"


@pytest.fixture
def lagos(paystack_fake, settings):
    settings.PAYSTACK_SECRET_KEY = paystack_fake.secret_key
    organiser = OrganiserFactory(currency="NGN", timezone="Africa/Lagos")
    session = SessionFactory(event__organiser=organiser, capacity=10)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=1_500_000)
    return session, ticket_type


@pytest.fixture
def stripe_keys(stripe_fake, settings):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    return stripe_fake


def _available(session, ticket_type) -> int:
    return session_availability(session, [ticket_type]).available


def _paystack_event(client, fake, event, data, capture):
    body, signature = fake.signed_event(event, data, fake.secret_key)
    with capture(execute=True):
        response = client.post(
            "/webhooks/paystack/",
            data=body,
            content_type="application/json",
            HTTP_X_PAYSTACK_SIGNATURE=signature,
        )
    assert response.status_code == 200


def test_paystack_charge_failed_releases_the_seats_and_mails_a_way_back(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 3))
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    assert _available(session, ticket_type) == 7
    data = paystack_fake.fail(payment.provider_reference, "Insufficient Funds")

    _paystack_event(
        client, paystack_fake, "charge.failed", data, django_capture_on_commit_callbacks
    )

    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_message == "Insufficient Funds"
    assert booking.status == Booking.Status.CANCELLED
    assert _available(session, ticket_type) == 10  # at once, not at expiry
    [email] = [m for m in mail.outbox if m.to == [booking.buyer_email]]
    assert "did not go through" in email.body
    assert "insufficient funds" in email.body  # the reason, in plain words
    assert_links_to_rebook(email.body, booking)
    assert booking.notifications.filter(template="payment_failed").count() == 2

    # Paystack redelivering, or the buyer coming back, changes nothing more.
    _paystack_event(
        client, paystack_fake, "charge.failed", data, django_capture_on_commit_callbacks
    )
    response = client.get(
        "/payments/paystack/return/", {"reference": payment.provider_reference}
    )
    assert response["Location"] == f"/b/{booking.reference}/"
    assert booking.notifications.filter(template="payment_failed").count() == 2


def test_failed_verify_on_return_shows_the_reason_and_try_again(
    lagos, paystack_fake, client
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 2))
    page = client.get(booking_page_path(booking.reference))  # remembers the booking
    assert page.status_code == 200
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    paystack_fake.fail(payment.provider_reference, "Declined")

    response = client.get(
        "/payments/paystack/return/", {"reference": payment.provider_reference}
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()

    assert 'data-state="payment_failed"' in page
    assert "Your payment did not go through" in page
    assert "Your bank declined the payment." in page
    assert "seats have been released" in page
    assert_links_to_rebook(page, booking)
    assert _available(session, ticket_type) == 10


def test_declined_on_return_with_the_broker_down_answers_and_releases(
    lagos, paystack_fake, client, broker, django_capture_on_commit_callbacks
):
    """Closing the booking's older open attempt is a task enqueued after commit.
    With the broker down the buyer still gets the return page, the seats go back,
    and the reconcile sweep closes the attempt once the broker is back."""
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 2))
    client.get(booking_page_path(booking.reference))  # remembers the booking
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    with paystack_fake._lock:  # an earlier attempt, still open at Paystack
        paystack_fake._new_transaction(
            reference="older-attempt",
            amount=booking.total_minor,
            currency="NGN",
            email=booking.buyer_email,
            callback_url="",
            metadata={},
        )
    older = PaymentFactory(
        organiser=booking.organiser,
        booking=booking,
        provider="paystack",
        provider_reference="older-attempt",
    )
    Payment.objects.filter(pk=older.pk).update(
        created_at=payment.created_at - dt.timedelta(minutes=5)
    )
    paystack_fake.fail(payment.provider_reference, "Declined")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            "/payments/paystack/return/", {"reference": payment.provider_reference}
        )

    assert response.status_code == 302
    assert response["Location"] == f"/b/{booking.reference}/"
    page = client.get(response["Location"]).content.decode()
    assert 'data-state="payment_failed"' in page
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert _available(session, ticket_type) == 10
    older.refresh_from_db()
    assert older.status == Payment.Status.PENDING  # its cancel task was lost

    broker.up()
    Payment.objects.filter(pk=older.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=1)
    )
    payments_reconcile_task.apply()

    older.refresh_from_db()
    assert older.status == Payment.Status.CANCELED
    assert older.events.filter(action="canceled.expired").count() == 1


def test_abandoned_paystack_attempt_keeps_the_hold(lagos, paystack_fake, client):
    """ "abandoned" only means the buyer left Paystack's page: they may still pay."""
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 2))
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    client.get("/payments/paystack/return/", {"reference": payment.provider_reference})
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert _available(session, ticket_type) == 8
    assert not booking.notifications.exists()


def test_unverifiable_return_says_so(lagos, paystack_fake, client):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    client.get(booking_page_path(booking.reference))
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    paystack_fake.fail_next(503)

    response = client.get(
        "/payments/paystack/return/", {"reference": payment.provider_reference}
    )

    assert response["Location"] == f"/b/{booking.reference}/?error=verify"
    page = client.get(response["Location"]).content.decode()
    assert "We could not check your payment with Paystack yet" in page
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PENDING


def test_failure_of_an_older_attempt_leaves_a_bank_transfer_hold_alone(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = payment_start(
        booking_id=booking.pk, provider="paystack", return_url=PAYSTACK_RETURN
    )
    offline_payment_enable(
        organiser_id=booking.organiser_id,
        account_holder="Lagos Live Ltd",
        account_number="0123456789",
    )
    payment_offline_choose(booking_id=booking.pk)
    data = paystack_fake.fail(payment.provider_reference)

    _paystack_event(
        client, paystack_fake, "charge.failed", data, django_capture_on_commit_callbacks
    )

    booking.refresh_from_db()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.FAILED
    assert booking.status == Booking.Status.PENDING  # the transfer keeps its hold
    assert not booking.notifications.filter(template="payment_failed").exists()


def test_stripe_decline_on_the_return_page_releases_and_explains(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 2))
    path = booking_page_path(booking.reference)
    assert 'data-state="pending"' in client.get(path).content.decode()
    payment = Payment.objects.get(booking=booking, provider="stripe")
    assert _available(session, ticket_type) == 8
    stripe_keys.fail(
        payment.provider_reference,
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    )

    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(
            path,
            {"payment_intent": payment.provider_reference, "redirect_status": "failed"},
        ).content.decode()

    assert 'data-state="payment_failed"' in page
    assert "The card has insufficient funds." in page
    assert 'id="stripe-form"' not in page  # no card form for released seats
    assert _available(session, ticket_type) == 10
    payment.refresh_from_db()
    assert payment.failure_code == "insufficient_funds"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("insufficient_funds", "", "insufficient funds"),
        ("expired_card", "Your card has expired.", "has expired"),
        ("payment_intent_authentication_failure", "", "security check"),
        ("generic_decline", "Your card was declined.", "Your bank declined"),
        ("failed", "Insufficient Funds", "insufficient funds"),
        ("failed", "Declined", "Your bank declined the payment. Try"),
        ("failed", "Card issuer unavailable", "(Card issuer unavailable)"),
    ],
)
def test_reasons_in_plain_words(code, message, expected):
    assert expected in failure_reason(code, message)


def test_reasons_in_french():
    with translation.override("fr"):
        reason = failure_reason("insufficient_funds")
    assert reason != failure_reason("insufficient_funds")
    assert "provision" in reason or "fonds" in reason
