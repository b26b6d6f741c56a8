"""Paying with Stripe end to end: the official SDK against a local fake of Stripe's API,
webhooks signed exactly as Stripe signs them, through the real endpoint."""

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from bookings import signals
from bookings.models import Booking
from bookings.selectors import session_availability
from bookings.services import booking_cancel, booking_expire_stale
from bookings.tests.helpers import hold
from events.models import Session
from payments.accounts import provider_for
from payments.exceptions import RefundOutcomeUnknown
from payments.models import Payment, Refund, WebhookDelivery
from payments.services import payment_start, refund_issue, webhooks_retry_due
from payments.services.cancel_refunds import KIND as REFUND_KIND
from payments.services.cancel_refunds import refund_cancelled_handler
from payments.tasks import payments_reconcile_task
from ticketing import outbox
from ticketing.models import AuditEntry, OutboxMessage

RETURN_URL = "http://testserver/payments/paystack/return/"


@pytest.fixture
def stripe_keys(stripe_fake, settings):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    return stripe_fake


@pytest.fixture
def confirmations():
    """Booking ids of every `booking_confirmed` signal (tickets and emails follow)."""
    seen = []

    def record(sender, booking_id, **kwargs):
        seen.append(booking_id)

    signals.booking_confirmed.connect(record)
    yield seen
    signals.booking_confirmed.disconnect(record)


def _start(booking) -> Payment:
    return payment_start(
        booking_id=booking.pk, provider="stripe", return_url=RETURN_URL
    )


def _post(client, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(
        "/webhooks/stripe/", data=body, content_type="application/json", **headers
    )


def _deliver(client, body, signature, capture):
    with capture(execute=True):
        return _post(client, body, signature)


def _paid(fake, client, session, line, capture):
    """A booking of `line` held, paid and confirmed through a signed webhook."""
    booking = hold(session, line)
    payment = _start(booking)
    _deliver(client, *_succeeded_event(fake, payment), capture)
    return booking, payment


def _succeeded_event(fake, payment, amount_received=None):
    fake.succeed(payment.provider_reference, amount_received=amount_received)
    return fake.signed_event(
        "payment_intent.succeeded", fake.payment_intent(payment.provider_reference)
    )


@pytest.mark.django_db
def test_reloading_the_payment_page_keeps_one_payment_intent(
    stripe_keys, session, ticket_type
):
    booking = hold(session, (ticket_type, 2))
    first = _start(booking)
    second = _start(booking)
    assert first.pk == second.pk
    assert stripe_keys.calls["payment_intents.create"] == 1
    assert Payment.objects.count() == 1
    created = stripe_keys.last("payment_intents.create")
    assert created.params["amount"] == "9000"
    assert created.params["currency"] == "eur"
    assert created.params["metadata"]["booking"] == booking.reference
    assert created.idempotency_key
    assert first.client_secret.startswith(first.provider_reference)


@pytest.mark.django_db
def test_the_same_webhook_ten_times_confirms_once(
    stripe_keys,
    session,
    ticket_type,
    client,
    confirmations,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    body, signature = _succeeded_event(stripe_keys, payment)

    answers = [
        _deliver(client, body, signature, django_capture_on_commit_callbacks)
        for _ in range(10)
    ]

    assert [answer.status_code for answer in answers] == [200] * 10
    booking.refresh_from_db()
    payment.refresh_from_db()
    session.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert payment.status == Payment.Status.SUCCEEDED
    assert session.sold_count == 2
    assert confirmations == [booking.pk]
    assert WebhookDelivery.objects.filter(signature_valid=True).count() == 1
    assert (
        AuditEntry.objects.filter(
            action="bookings.booking.confirmed", object_id=str(booking.pk)
        ).count()
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_ten_deliveries_at_once_confirm_once(stripe_keys, client, confirmations):
    from events.tests.factories import SessionFactory, TicketTypeFactory

    session = SessionFactory(capacity=10)
    ticket_type = TicketTypeFactory(event=session.event, price_minor=4500)
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    body, signature = _succeeded_event(stripe_keys, payment)
    barrier = threading.Barrier(10)

    def deliver(_):
        from django.test import Client

        try:
            barrier.wait(timeout=5)
            return _post(Client(), body, signature).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(deliver, range(10)))

    assert statuses == [200] * 10
    booking.refresh_from_db()
    session.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert session.sold_count == 2
    assert confirmations == [booking.pk]
    assert WebhookDelivery.objects.filter(signature_valid=True).count() == 1
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
def test_forged_missing_and_stale_signatures_get_400_and_change_nothing(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    stripe_keys.succeed(payment.provider_reference)
    obj = stripe_keys.payment_intent(payment.provider_reference)
    forged = stripe_keys.signed_event(
        "payment_intent.succeeded", obj, secret="whsec_not_ours"
    )
    stale = stripe_keys.signed_event(
        "payment_intent.succeeded", obj, timestamp=int(time.time()) - 400
    )
    body, _ = stripe_keys.signed_event("payment_intent.succeeded", obj)

    for delivery_body, signature in (forged, stale, (body, None)):
        response = _deliver(
            client, delivery_body, signature, django_capture_on_commit_callbacks
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert payment.status == Payment.Status.PENDING
    assert WebhookDelivery.objects.filter(signature_valid=False).count() == 3
    assert not WebhookDelivery.objects.filter(signature_valid=True).exists()


@pytest.mark.django_db
def test_amount_mismatch_leaves_the_booking_unconfirmed_and_flagged(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    body, signature = _succeeded_event(stripe_keys, payment, amount_received=4500)

    _deliver(client, body, signature, django_capture_on_commit_callbacks)

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert booking.needs_attention is True
    assert payment.status == Payment.Status.MISMATCH
    assert (
        AuditEntry.objects.get(action="payments.payment.amount_mismatch").data[
            "reported_minor"
        ]
        == 4500
    )


@pytest.mark.django_db
def test_late_payment_with_seats_left_confirms(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    booking_expire_stale()
    body, signature = _succeeded_event(stripe_keys, payment)

    _deliver(client, body, signature, django_capture_on_commit_callbacks)

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_late_payment_without_seats_is_refunded_and_flagged(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    late = hold(session, (ticket_type, 2))
    payment = _start(late)
    Booking.objects.filter(pk=late.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    hold(session, (ticket_type, 9))  # the seats went to someone else
    body, signature = _succeeded_event(stripe_keys, payment)

    _deliver(client, body, signature, django_capture_on_commit_callbacks)

    late.refresh_from_db()
    payment.refresh_from_db()
    refund = Refund.objects.get()
    assert late.status == Booking.Status.PENDING
    assert late.needs_attention is True
    assert payment.status == Payment.Status.SUCCEEDED
    assert (refund.amount_minor, refund.status) == (9000, Refund.Status.SUCCEEDED)
    assert payment.refunded_minor == 9000
    assert stripe_keys.last("refunds.create").params["amount"] == "9000"
    assert AuditEntry.objects.filter(action="payments.payment.unfulfilled").count() == 1


@pytest.mark.django_db
def test_late_payment_whose_code_is_used_up_is_refunded_and_flagged(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    from bookings.services import BuyerInput, booking_confirm
    from bookings.tests.factories import DiscountCodeFactory

    code = DiscountCodeFactory(
        organiser=session.event.organiser, code="ONCE", percent=10, max_uses=1
    )
    late = hold(session, (ticket_type, 2), discount_code="ONCE")
    payment = _start(late)
    Booking.objects.filter(pk=late.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    other = hold(  # the code's one use went to someone else; seats are plenty
        session,
        (ticket_type, 1),
        discount_code="ONCE",
        buyer=BuyerInput(name="Bo", email="bo@example.org"),
    )
    booking_confirm(booking_id=other.pk)
    body, signature = _succeeded_event(stripe_keys, payment)

    _deliver(client, body, signature, django_capture_on_commit_callbacks)

    late.refresh_from_db()
    refund = Refund.objects.get()
    assert late.status == Booking.Status.PENDING
    assert late.needs_attention is True
    assert (refund.amount_minor, refund.status) == (8100, Refund.Status.SUCCEEDED)
    assert code.bookings.filter(status=Booking.Status.CONFIRMED).count() == 1
    assert AuditEntry.objects.get(action="payments.payment.unfulfilled").data[
        "reason"
    ] == "discount code used up"


@pytest.mark.django_db
def test_partial_then_full_refund(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    body, signature = _succeeded_event(stripe_keys, payment)
    _deliver(client, body, signature, django_capture_on_commit_callbacks)

    refund_issue(payment_id=payment.pk, amount_minor=3000, reason="one seat moved")
    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.refunded_minor == 3000
    assert booking.status == Booking.Status.CONFIRMED
    assert Session.objects.get(pk=session.pk).sold_count == 2

    refund_issue(payment_id=payment.pk, reason="event moved")
    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.refunded_minor == 9000
    assert booking.status == Booking.Status.REFUNDED
    assert Session.objects.get(pk=session.pk).sold_count == 0
    assert list(
        Refund.objects.order_by("created_at").values_list("amount_minor", "status")
    ) == [(3000, "succeeded"), (6000, "succeeded")]

    from payments.exceptions import RefundNotPossible

    with pytest.raises(RefundNotPossible):
        refund_issue(payment_id=payment.pk, amount_minor=1)


@pytest.mark.django_db
def test_declined_card_releases_the_hold_and_tells_the_buyer(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 2))
    payment = _start(booking)
    assert session_availability(session, [ticket_type]).available == 8
    stripe_keys.fail(payment.provider_reference, code="card_declined")
    failed = stripe_keys.signed_event(
        "payment_intent.payment_failed",
        stripe_keys.payment_intent(payment.provider_reference),
    )
    _deliver(client, *failed, django_capture_on_commit_callbacks)

    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_code == "generic_decline"
    assert booking.status == Booking.Status.CANCELLED  # seats back at once
    assert session_availability(session, [ticket_type]).available == 10
    # The old card form cannot be paid any more.
    assert (
        stripe_keys.payment_intent(payment.provider_reference)["status"] == "canceled"
    )
    assert sorted(booking.notifications.values_list("template", "channel")) == [
        ("payment_failed", "email"),
        ("payment_failed", "sms"),
    ]
    assert AuditEntry.objects.filter(
        action="bookings.booking.released_unpaid", object_id=str(booking.pk)
    ).exists()

    _deliver(client, *failed, django_capture_on_commit_callbacks)  # replayed
    assert booking.notifications.count() == 2


@pytest.mark.django_db
def test_failed_then_paid_anyway_is_refunded_not_lost(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    stripe_keys.fail(payment.provider_reference)
    failed = stripe_keys.signed_event(
        "payment_intent.payment_failed",
        stripe_keys.payment_intent(payment.provider_reference),
    )
    _deliver(client, *failed, django_capture_on_commit_callbacks)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED

    # Money moved all the same (a second card on the still-open form).
    succeeded = _succeeded_event(stripe_keys, payment)
    _deliver(client, *succeeded, django_capture_on_commit_callbacks)
    _deliver(client, *failed, django_capture_on_commit_callbacks)  # replayed late

    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert booking.status == Booking.Status.CANCELLED
    assert booking.needs_attention
    assert payment.refunds.get().amount_minor == payment.amount_minor


@pytest.mark.django_db
def test_dispute_flags_the_booking(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking, payment = _paid(
        stripe_keys,
        client,
        session,
        (ticket_type, 1),
        django_capture_on_commit_callbacks,
    )
    dispute = stripe_keys.signed_event(
        "charge.dispute.created",
        {
            "id": "dp_test_1",
            "object": "dispute",
            "amount": 4500,
            "currency": "eur",
            "payment_intent": payment.provider_reference,
            "reason": "fraudulent",
            "status": "needs_response",
        },
    )
    _deliver(client, *dispute, django_capture_on_commit_callbacks)
    booking.refresh_from_db()
    assert booking.needs_attention is True
    assert AuditEntry.objects.filter(action="payments.dispute.opened").exists()


@pytest.mark.django_db
def test_cancelling_a_paid_booking_refunds_it(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking, payment = _paid(
        stripe_keys,
        client,
        session,
        (ticket_type, 2),
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk, reason="buyer asked")
    payment.refresh_from_db()
    assert payment.refunded_minor == 9000
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED


def test_a_cancellation_refund_stripe_did_not_confirm_is_asked_once(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking, payment = _paid(
        stripe_keys,
        client,
        session,
        (ticket_type, 2),
        django_capture_on_commit_callbacks,
    )
    stripe_keys.fail_next(500)
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk, reason="buyer asked")
    # The outbox row delivered again (a worker killed after the call, say).
    refund_cancelled_handler(OutboxMessage.objects.get(kind=REFUND_KIND))

    refund = Refund.objects.get(payment=payment)
    assert (refund.status, refund.amount_minor) == (Refund.Status.PENDING, 9000)
    assert stripe_keys.calls["refunds.create"] == 1
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED


@pytest.fixture
def paid_two(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    """A booking of two tickets, paid with Stripe and confirmed."""
    return _paid(
        stripe_keys,
        client,
        session,
        (ticket_type, 2),
        django_capture_on_commit_callbacks,
    )


@pytest.mark.django_db
def test_a_cancellation_refund_is_owed_with_the_cancel_and_paid_once(
    stripe_keys, paid_two, django_capture_on_commit_callbacks
):
    booking, payment = paid_two
    # No worker ran: the refund is a row committed with the cancellation.
    booking_cancel(booking_id=booking.pk, reason="buyer asked")
    row = OutboxMessage.objects.get(kind=REFUND_KIND)
    assert row.status == OutboxMessage.Status.PENDING
    assert not Refund.objects.exists()

    outbox.dispatch()  # what beat, or the on-commit kick, runs
    row.refresh_from_db()
    payment.refresh_from_db()
    assert row.status == OutboxMessage.Status.DONE
    assert payment.refunded_minor == 9000
    refund_cancelled_handler(row)  # redelivered: nothing more is paid back
    assert stripe_keys.calls["refunds.create"] == 1
    assert Refund.objects.filter(payment=payment).count() == 1


@pytest.mark.django_db
def test_a_cancellation_after_a_partial_refund_pays_back_the_rest(
    stripe_keys, paid_two, django_capture_on_commit_callbacks
):
    booking, payment = paid_two
    refund_issue(payment_id=payment.pk, amount_minor=2000, reason="one seat moved")
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk, reason="buyer asked")

    payment.refresh_from_db()
    assert payment.refunded_minor == 9000
    assert sorted(payment.refunds.values_list("amount_minor", flat=True)) == [
        2000,
        7000,
    ]


@pytest.mark.django_db
def test_a_cancellation_refund_waits_out_stripe_refusing_for_a_while(
    stripe_keys, paid_two, django_capture_on_commit_callbacks
):
    booking, payment = paid_two
    booking_cancel(booking_id=booking.pk, reason="buyer asked")
    stripe_keys.fail_next(429, times=20)  # surely not refunded: asked again later
    outbox.dispatch()
    row = OutboxMessage.objects.get(kind=REFUND_KIND)
    assert (row.status, row.attempts) == (OutboxMessage.Status.PENDING, 1)
    assert not Refund.objects.filter(status=Refund.Status.SUCCEEDED).exists()

    with stripe_keys._lock:
        stripe_keys._failures.clear()
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    outbox.dispatch()
    row.refresh_from_db()
    payment.refresh_from_db()
    assert row.status == OutboxMessage.Status.DONE
    assert payment.refunded_minor == 9000
    assert (
        Refund.objects.filter(payment=payment)
        .exclude(status=Refund.Status.FAILED)
        .count()
        == 1
    )


@pytest.mark.django_db
def test_expired_holds_cancel_their_open_payment_intents(
    stripe_keys,
    session,
    ticket_type,
    django_capture_on_commit_callbacks,
):
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking_expire_stale()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELED
    assert (
        stripe_keys.payment_intent(payment.provider_reference)["status"] == "canceled"
    )


@pytest.mark.django_db
def test_reconciliation_settles_a_payment_whose_webhook_never_came(
    stripe_keys,
    session,
    ticket_type,
    settings,
):
    settings.PAYMENT_RECONCILE_AFTER_MINUTES = 20
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    stripe_keys.succeed(payment.provider_reference)
    assert payments_reconcile_task.apply().get() == 0  # too recent to look at
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=30)
    )

    assert payments_reconcile_task.apply().get() == 1

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


@pytest.mark.django_db
@pytest.mark.parametrize("stripe_made_it", [False, True])
def test_reconciliation_asks_again_for_a_refund_stripe_never_confirmed(
    stripe_keys,
    session,
    ticket_type,
    client,
    django_capture_on_commit_callbacks,
    stripe_made_it,
):
    """With the refund's first idempotency key: Stripe makes it now, or answers
    with the one it made when its answer was lost; never a second."""
    booking, payment = _paid(
        stripe_keys,
        client,
        session,
        (ticket_type, 2),
        django_capture_on_commit_callbacks,
    )
    stripe_keys.fail_next(500)
    with pytest.raises(RefundOutcomeUnknown):
        refund_issue(payment_id=payment.pk, amount_minor=4500, reason="one seat")
    refund = Refund.objects.get()
    if stripe_made_it:  # the call went through; only its answer was lost
        provider_for(payment.organiser_id, "stripe").refund(
            payment.provider_reference, 4500, "EUR", "one seat", f"refund:{refund.pk}"
        )
    assert payments_reconcile_task.apply().get() == 0  # too recent to look at
    assert Refund.objects.get().status == Refund.Status.PENDING
    Refund.objects.filter(pk=refund.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=30)
    )

    payments_reconcile_task.apply().get()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_refund_id
    assert payment.refunded_minor == 4500
    assert len(stripe_keys.refunds) == 1


@pytest.mark.django_db
def test_processing_failure_is_kept_and_retried(
    stripe_keys, session, ticket_type, client, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 1))
    payment = _start(booking)
    body, signature = _succeeded_event(stripe_keys, payment)
    stripe_keys.fail_next(503)  # the verification call fails once

    assert (
        _deliver(
            client, body, signature, django_capture_on_commit_callbacks
        ).status_code
        == 200
    )

    delivery = WebhookDelivery.objects.get(signature_valid=True)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.next_attempt_at > timezone.now()
    assert "503" in delivery.last_error or "Unavailable" in delivery.last_error
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PENDING

    assert webhooks_retry_due(now=timezone.now() + dt.timedelta(hours=1)) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.attempts == 2
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED
