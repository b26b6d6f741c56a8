"""A confirmed one-seat booking paid through the Stripe fake, for tests that need a
real PaymentIntent behind the payment (a refund asks Stripe for it)."""

from __future__ import annotations

import requests

from bookings.models import Booking
from bookings.tests.factories import BookingFactory
from events.models import Session

from .factories import PaymentFactory

AMOUNT_MINOR = 4500


def stripe_paid_booking(fake):
    """The booking and its succeeded payment, the intent paid at the fake."""
    booking = BookingFactory(status=Booking.Status.CONFIRMED, quantity=1)
    Session.objects.filter(pk=booking.session_id).update(sold_count=1)
    intent = requests.post(
        f"{fake.url}/v1/payment_intents",
        data={"amount": AMOUNT_MINOR, "currency": booking.currency.lower()},
        auth=(fake.secret_key, ""),
        timeout=5,
    ).json()
    fake.succeed(intent["id"])
    payment = PaymentFactory(
        organiser=booking.organiser,
        booking=booking,
        status="succeeded",
        provider_reference=intent["id"],
        amount_minor=AMOUNT_MINOR,
    )
    return booking, payment
