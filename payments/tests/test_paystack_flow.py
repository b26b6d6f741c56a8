"""Paying with Paystack end to end, against a local fake of its API, webhooks signed
with HMAC-SHA512 of the raw body as Paystack signs them."""

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import Booking
from bookings.tests.helpers import hold
from events.tests.factories import OrganiserFactory, SessionFactory, TicketTypeFactory
from payments.exceptions import RefundNotPossible, RefundOutcomeUnknown
from payments.models import Payment, Refund, WebhookDelivery
from payments.providers.base import ProviderUnavailable
from payments.services import payment_start, refund_issue
from payments.tasks import payments_reconcile_task
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db

RETURN_URL = "http://testserver/payments/paystack/return/"


@pytest.fixture
def lagos(paystack_fake, settings):
    settings.PAYSTACK_SECRET_KEY = paystack_fake.secret_key
    organiser = OrganiserFactory(currency="NGN", timezone="Africa/Lagos")
    session = SessionFactory(event__organiser=organiser, capacity=50)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=1_500_000)
    return session, ticket_type


def _refund_processed(client, fake, capture, payment, refund_reference) -> None:
    """Paystack's webhook for a 1,000,000 kobo refund of `payment`."""
    _post(
        client,
        fake,
        "refund.processed",
        {
            "status": "processed",
            "transaction_reference": payment.provider_reference,
            "refund_reference": refund_reference,
            "amount": 1_000_000,
            "currency": "NGN",
        },
        capture,
    )


def _start(booking) -> Payment:
    return payment_start(
        booking_id=booking.pk, provider="paystack", return_url=RETURN_URL
    )


def _post(client, fake, event, data, capture, secret=None):
    body, signature = fake.signed_event(event, data, secret or fake.secret_key)
    with capture(execute=True):
        return client.post(
            "/webhooks/paystack/",
            data=body,
            content_type="application/json",
            HTTP_X_PAYSTACK_SIGNATURE=signature,
        )


def test_start_redirects_in_kobo_and_a_reload_keeps_one_attempt(lagos, paystack_fake):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 2))
    first = _start(booking)
    second = _start(booking)
    assert first.pk == second.pk
    assert Payment.objects.count() == 1
    assert first.redirect_url.startswith("http")
    assert second.redirect_url == first.redirect_url
    initialize = paystack_fake.requests_to("/transaction/initialize")[0]
    assert initialize.json["amount"] == 3_000_000  # kobo, as an integer
    assert initialize.json["currency"] == "NGN"
    assert initialize.json["callback_url"] == RETURN_URL
    assert initialize.json["reference"] == first.provider_reference


def test_charge_success_webhook_confirms_once(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    data = paystack_fake.succeed(payment.provider_reference)

    for _ in range(3):
        response = _post(
            client,
            paystack_fake,
            "charge.success",
            data,
            django_capture_on_commit_callbacks,
        )
        assert response.status_code == 200

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert WebhookDelivery.objects.filter(signature_valid=True).count() == 1
    verified = paystack_fake.requests_to(
        f"/transaction/verify/{payment.provider_reference}"
    )
    assert verified  # the payload was checked with Paystack before it counted


def test_forged_signature_is_refused(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    data = paystack_fake.succeed(payment.provider_reference)
    response = _post(
        client,
        paystack_fake,
        "charge.success",
        data,
        django_capture_on_commit_callbacks,
        secret="sk_test_forged",
    )
    assert response.status_code == 400
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING


def test_return_from_paystack_verifies_and_shows_the_booking(
    lagos, paystack_fake, client
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    paystack_fake.succeed(payment.provider_reference)

    response = client.get(
        "/payments/paystack/return/", {"reference": payment.provider_reference}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/b/{booking.reference}/"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_refund_event_with_another_reference_is_not_counted_twice(
    lagos,
    paystack_fake,
    client,
    django_capture_on_commit_callbacks,
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    _post(
        client,
        paystack_fake,
        "charge.success",
        paystack_fake.succeed(payment.provider_reference),
        django_capture_on_commit_callbacks,
    )

    refund_issue(payment_id=payment.pk, amount_minor=1_000_000, reason="one seat")
    _refund_processed(
        client,
        paystack_fake,
        django_capture_on_commit_callbacks,
        payment,
        "PSK-REF-ELSEWHERE",
    )

    payment.refresh_from_db()
    assert Refund.objects.count() == 1
    assert Refund.objects.get().status == Refund.Status.SUCCEEDED
    assert payment.refunded_minor == 1_000_000
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED


def test_stored_webhook_body_never_keeps_the_card_authorization(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    data = paystack_fake.succeed(payment.provider_reference)
    data["authorization"] = {"authorization_code": "AUTH_reusable_123", "last4": "4081"}

    response = _post(
        client,
        paystack_fake,
        "charge.success",
        data,
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(signature_valid=True)
    assert "AUTH_reusable_123" not in delivery.raw_body
    assert '"last4": "4081"' in delivery.raw_body
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def _paid(lagos, paystack_fake, client, capture, seats=2) -> Payment:
    session, ticket_type = lagos
    payment = _start(hold(session, (ticket_type, seats)))
    _post(
        client,
        paystack_fake,
        "charge.success",
        paystack_fake.succeed(payment.provider_reference),
        capture,
    )
    payment.refresh_from_db()
    return payment


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 502},  # Paystack may have queued it before failing
        {"status": 200, "body": '{"status": true, "data": {}}'},  # no refund id
    ],
)
def test_a_refund_paystack_may_have_made_stays_pending_and_blocks_another(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks, answer
):
    payment = _paid(lagos, paystack_fake, client, django_capture_on_commit_callbacks)
    paystack_fake.fail_next(**answer)

    with pytest.raises(RefundOutcomeUnknown):
        refund_issue(payment_id=payment.pk, amount_minor=1_000_000, reason="seat")

    refund = Refund.objects.get()
    assert (refund.status, refund.amount_minor) == (Refund.Status.PENDING, 1_000_000)
    assert refund.last_error
    assert AuditEntry.objects.filter(action="payments.refund.outcome_unknown").exists()
    # The 1,000,000 may be on its way: only what is surely left can be refunded.
    with pytest.raises(RefundNotPossible):
        refund_issue(payment_id=payment.pk, amount_minor=3_000_000, reason="all")
    # Paystack takes no idempotency key: reconciliation never asks it again.
    Refund.objects.update(created_at=timezone.now() - dt.timedelta(hours=1))
    payments_reconcile_task.apply().get()
    assert len(paystack_fake.requests_to("/refund")) == 1

    _refund_processed(
        client,
        paystack_fake,
        django_capture_on_commit_callbacks,
        payment,
        "PSK-REF-LATE",
    )
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert payment.refunded_minor == 1_000_000


def test_a_refund_paystack_surely_did_not_make_fails_and_can_be_asked_again(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    payment = _paid(lagos, paystack_fake, client, django_capture_on_commit_callbacks)
    paystack_fake.fail_next(429, headers={"Retry-After": "1"})

    with pytest.raises(ProviderUnavailable):
        refund_issue(payment_id=payment.pk, reason="all")

    assert Refund.objects.get().status == Refund.Status.FAILED
    refund = refund_issue(payment_id=payment.pk, reason="all, again")
    assert refund.amount_minor == payment.amount_minor
    assert refund.status == Refund.Status.PENDING  # queued; the webhook settles it


def test_a_paystack_charge_paid_after_its_hold_expired_still_counts(
    lagos, paystack_fake, client, django_capture_on_commit_callbacks
):
    """Paystack cannot cancel a transaction: the attempt closed at expiry can still
    be paid on Paystack's page, and that money must become the sale (or be given
    back), never be ignored because our row said cancelled."""
    from bookings.services.expiry import booking_expire_stale
    from payments.services import payment_cancel_open

    session, ticket_type = lagos
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    booking_expire_stale(now=timezone.now() + dt.timedelta(hours=2))
    payment_cancel_open(booking_ids=[booking.pk])
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELED

    data = paystack_fake.succeed(payment.provider_reference)
    response = _post(
        client,
        paystack_fake,
        "charge.success",
        data,
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 200
    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    # The seats were still free: a late confirmation, its tickets issued.
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.tickets.count() == 1
