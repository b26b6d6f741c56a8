import dataclasses

import pytest
from django.urls import reverse

from bookings.models import Booking
from bookings.tests.helpers import hold
from events.models import Membership
from events.tests.factories import MembershipFactory
from payments.models import Payment, Refund
from payments.providers import get_provider
from payments.providers.base import Credentials, PaymentRequest, PaymentState
from payments.services import payment_settle, payment_start
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(stripe_fake, settings, session, ticket_type):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    booking = hold(session, (ticket_type, 2))
    payment = payment_start(
        booking_id=booking.pk, provider="stripe", return_url="http://testserver/"
    )
    stripe_fake.succeed(payment.provider_reference)
    return payment_settle(payment_id=payment.pk, source="test")


def _member(client, organiser, role):
    member = MembershipFactory(organiser=organiser, role=role)
    client.force_login(member.user)
    return member.user


def test_manager_refunds_part_of_a_payment_from_the_admin(client, paid):
    user = _member(client, paid.organiser, Membership.Role.MANAGER)
    response = client.post(
        reverse("admin:payments_refund_add"),
        {"payment": paid.pk, "amount_minor": "25.00", "reason": "late arrival"},
        follow=True,
    )
    assert response.status_code == 200
    refund = Refund.objects.get()
    assert (refund.amount_minor, refund.status, refund.created_by) == (
        2500,
        Refund.Status.SUCCEEDED,
        user,
    )
    paid.refresh_from_db()
    assert paid.refunded_minor == 2500
    assert Booking.objects.get(pk=paid.booking_id).status == Booking.Status.CONFIRMED
    assert AuditEntry.objects.get(action="payments.refund.requested").actor == user


def test_refunding_more_than_was_paid_is_refused_with_a_message(client, paid):
    _member(client, paid.organiser, Membership.Role.OWNER)
    response = client.post(
        reverse("admin:payments_refund_add"),
        {"payment": paid.pk, "amount_minor": 999_999, "reason": "typo"},
        follow=True,
    )
    assert "Refund refused" in response.content.decode()
    assert not Refund.objects.exists()
    paid.refresh_from_db()
    assert paid.refunded_minor == 0


def test_staff_cannot_refund(client, paid):
    _member(client, paid.organiser, Membership.Role.STAFF)
    response = client.post(
        reverse("admin:payments_refund_add"),
        {"payment": paid.pk, "amount_minor": 100, "reason": "no"},
    )
    assert response.status_code == 403
    assert not Refund.objects.exists()
    assert Payment.objects.get(pk=paid.pk).refunded_minor == 0


def test_free_provider_only_takes_a_zero_total():
    from payments.providers.base import ProviderRejected

    free = get_provider("free", Credentials(secret_key=""))
    request = PaymentRequest(
        booking_reference="MC26-ABCDEF",
        attempt_reference="a",
        amount_minor=0,
        currency="EUR",
        buyer_email="a@b.c",
        description="",
        metadata={},
        return_url="",
        idempotency_key="k",
    )
    assert free.start_payment(request).status == PaymentState.SUCCEEDED
    with pytest.raises(ProviderRejected):
        free.start_payment(dataclasses.replace(request, amount_minor=1))


def test_a_refund_the_provider_did_not_confirm_is_shown_as_pending(
    client, paid, stripe_fake
):
    _member(client, paid.organiser, Membership.Role.OWNER)
    stripe_fake.fail_next(500)
    response = client.post(
        reverse("admin:payments_refund_add"),
        {"payment": paid.pk, "amount_minor": "25.00", "reason": "late arrival"},
        follow=True,
    )
    page = response.content.decode()
    assert "did not confirm the refund" in page
    assert "Refund refused" not in page
    refund = Refund.objects.get()
    assert (refund.amount_minor, refund.status) == (2500, Refund.Status.PENDING)
