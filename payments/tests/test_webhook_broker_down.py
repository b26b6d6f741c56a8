"""A correctly signed payment webhook that meets a broker that cannot be reached.

Issue 16 item 1: the delivery is stored, its processing cannot be enqueued, and yet
the answer must be 200 (never a 500 once the row is saved); then the provider's
retry, or the sweep, confirms the booking exactly once. The broker is really down
(`ticketing.tests.broker`: Celery sends to a port where nothing listens), the
providers are the local fakes, and every assertion is on rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from bookings import signals
from bookings.models import Booking
from bookings.tests.helpers import hold
from events.tests.factories import OrganiserFactory, SessionFactory, TicketTypeFactory
from notifications.models import Notification
from payments.models import Payment, WebhookDelivery
from payments.services import payment_start, webhook_receive, webhooks_retry_due
from payments.tasks import webhooks_retry_due_task
from ticketing.tests.broker import Broker, broker_fixture  # noqa: F401
from ticketing.tests.health import full, monitored_fixture  # noqa: F401

RETURN_URL = "http://testserver/payments/paystack/return/"


class Stripe:
    name = "stripe"

    def __init__(self, fake, settings):
        settings.STRIPE_SECRET_KEY = fake.secret_key
        settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
        self.fake = fake
        self.session = SessionFactory(capacity=10)
        self.ticket_type = TicketTypeFactory(event=self.session.event, price_minor=4500)

    def paid_event(self, payment) -> tuple[bytes, dict]:
        self.fake.succeed(payment.provider_reference)
        body, signature = self.fake.signed_event(
            "payment_intent.succeeded",
            self.fake.payment_intent(payment.provider_reference),
        )
        return body, {"HTTP_STRIPE_SIGNATURE": signature}


class Paystack:
    name = "paystack"

    def __init__(self, fake, settings):
        settings.PAYSTACK_SECRET_KEY = fake.secret_key
        organiser = OrganiserFactory(currency="NGN", timezone="Africa/Lagos")
        self.fake = fake
        self.session = SessionFactory(event__organiser=organiser, capacity=10)
        self.ticket_type = TicketTypeFactory(
            event=self.session.event, price_minor=1_500_000
        )

    def paid_event(self, payment) -> tuple[bytes, dict]:
        data = self.fake.succeed(payment.provider_reference)
        body, signature = self.fake.signed_event(
            "charge.success", data, self.fake.secret_key
        )
        return body, {"HTTP_X_PAYSTACK_SIGNATURE": signature}


@pytest.fixture(params=["stripe", "paystack"])
def provider(request, settings):
    if request.param == "stripe":
        return Stripe(request.getfixturevalue("stripe_fake"), settings)
    return Paystack(request.getfixturevalue("paystack_fake"), settings)


def _booking_paid(provider):
    booking = hold(provider.session, (provider.ticket_type, 2))
    payment = payment_start(
        booking_id=booking.pk, provider=provider.name, return_url=RETURN_URL
    )
    return booking, payment, provider.paid_event(payment)


def _deliver(client, provider, event, capture):
    body, headers = event
    with capture(execute=True):
        return client.post(
            f"/webhooks/{provider.name}/",
            data=body,
            content_type="application/json",
            **headers,
        )


def _assert_confirmed_once(booking, provider) -> None:
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Payment.objects.filter(booking=booking).count() == 1
    assert Payment.objects.get(booking=booking).status == Payment.Status.SUCCEEDED
    delivery = WebhookDelivery.objects.get(signature_valid=True)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.processed_at is not None
    assert (
        Notification.objects.filter(
            booking=booking,
            template=Notification.Template.CONFIRMATION,
            channel=Notification.Channel.EMAIL,
        ).count()
        == 1
    )
    provider.session.refresh_from_db()
    assert provider.session.sold_count == 2


def _assert_stored_unprocessed(booking) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.get(signature_valid=True)
    assert delivery.status == WebhookDelivery.Status.RECEIVED
    assert delivery.processed_at is None
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    return delivery


@pytest.mark.django_db
def test_broker_down_answers_200_and_the_providers_retry_confirms_once(
    provider,
    broker,
    client,
    django_capture_on_commit_callbacks,
):
    booking, _payment, event = _booking_paid(provider)

    first = _deliver(client, provider, event, django_capture_on_commit_callbacks)

    assert first.status_code == 200
    _assert_stored_unprocessed(booking)

    # The provider retries while the broker is still down: stored already, not
    # processed, so it is enqueued again (and fails again), never "duplicate".
    again = _deliver(client, provider, event, django_capture_on_commit_callbacks)
    assert again.status_code == 200
    _assert_stored_unprocessed(booking)

    broker.up()
    retry = _deliver(client, provider, event, django_capture_on_commit_callbacks)

    assert retry.status_code == 200
    _assert_confirmed_once(booking, provider)
    assert WebhookDelivery.objects.get(signature_valid=True).attempts == 1

    # Later retries of a processed event change nothing.
    late = _deliver(client, provider, event, django_capture_on_commit_callbacks)
    assert late.status_code == 200
    _assert_confirmed_once(booking, provider)
    assert webhooks_retry_due(now=timezone.now() + dt.timedelta(hours=1)) == 0


@pytest.mark.django_db
def test_broker_down_answers_200_and_the_sweep_confirms_once(
    provider,
    broker,
    client,
    django_capture_on_commit_callbacks,
):
    booking, _payment, event = _booking_paid(provider)

    response = _deliver(client, provider, event, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    delivery = _assert_stored_unprocessed(booking)
    # Its task may still be on its way: the sweep leaves it for a minute.
    assert webhooks_retry_due() == 0
    _assert_stored_unprocessed(booking)

    # Beat runs the sweep a minute later; the broker is still down, so the
    # confirmation's own follow-ups (emails) cannot be enqueued either: they are
    # rows, and the booking is confirmed all the same.
    with django_capture_on_commit_callbacks(execute=True):
        swept = webhooks_retry_due(now=delivery.received_at + dt.timedelta(minutes=1))

    assert swept == 1
    _assert_confirmed_once(booking, provider)

    # The sweep again, and the provider's retry: nothing more happens.
    assert webhooks_retry_due(now=timezone.now() + dt.timedelta(hours=1)) == 0
    broker.up()
    retry = _deliver(client, provider, event, django_capture_on_commit_callbacks)
    assert retry.status_code == 200
    _assert_confirmed_once(booking, provider)


@pytest.mark.django_db
def test_the_sweep_is_the_beat_task(
    provider,
    broker,
    client,
    django_capture_on_commit_callbacks,
):
    booking, _payment, event = _booking_paid(provider)
    _deliver(client, provider, event, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(received_at=timezone.now() - dt.timedelta(minutes=2))
    broker.up()

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_retry_due_task.apply().get() == 1

    _assert_confirmed_once(booking, provider)


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_process_each_delivery_once(stripe_fake, settings):
    """Two workers run the sweep at the same moment over the same backlog: each
    delivery is claimed by one of them (FOR UPDATE SKIP LOCKED) and each booking is
    confirmed once."""
    provider = Stripe(stripe_fake, settings)
    bookings = []
    for _ in range(4):
        booking, _payment, (body, headers) = _booking_paid(provider)
        bookings.append(booking)
        down = Broker()
        down.down()
        try:
            webhook_receive(
                provider="stripe",
                body=body,
                headers={"Stripe-Signature": headers["HTTP_STRIPE_SIGNATURE"]},
            )
        finally:
            down.up()
    assert WebhookDelivery.objects.filter(processed_at__isnull=True).count() == 4
    confirmed: list[int] = []
    lock = threading.Lock()

    def record(sender, booking_id, **kwargs):
        with lock:
            confirmed.append(booking_id)

    signals.booking_confirmed.connect(record)
    later = timezone.now() + dt.timedelta(minutes=2)
    barrier = threading.Barrier(2)

    def sweep(_):
        try:
            barrier.wait(timeout=5)
            return webhooks_retry_due(now=later)
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = list(pool.map(sweep, range(2)))
    finally:
        signals.booking_confirmed.disconnect(record)

    assert sum(counts) == 4
    assert sorted(confirmed) == sorted(booking.pk for booking in bookings)
    assert set(
        WebhookDelivery.objects.values_list("status", "attempts").distinct()
    ) == {(WebhookDelivery.Status.PROCESSED, 1)}
    for booking in bookings:
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CONFIRMED


@pytest.mark.django_db
def test_a_row_whose_lease_ran_out_in_a_slow_batch_is_left_to_the_next_sweep(
    monkeypatch,
):
    """A sweep's batch took longer than the lease: the next sweep has taken the rows
    it had not reached yet, so the first one leaves them alone."""
    from payments.services import webhooks

    old = timezone.now() - dt.timedelta(minutes=5)
    for event_id in ("evt_first", "evt_second"):
        WebhookDelivery.objects.create(
            provider="stripe",
            event_id=event_id,
            raw_body="{}",
            signature_valid=True,
            event={"event_id": event_id, "kind": "ignored", "provider_type": "x"},
        )
    WebhookDelivery.objects.update(received_at=old)
    first, second = WebhookDelivery.objects.order_by("pk")
    real_run = webhooks._run
    runs: list[int] = []

    def slow_run(pk):
        runs.append(pk)
        if pk == first.pk:  # ... so slow that the second row's lease runs out
            WebhookDelivery.objects.filter(pk=second.pk).update(next_attempt_at=old)
            assert webhooks.webhooks_retry_due() == 1  # the next sweep takes it
        return real_run(pk)

    monkeypatch.setattr(webhooks, "_run", slow_run)

    assert webhooks.webhooks_retry_due() == 1

    assert runs == [first.pk, second.pk]  # the second, once, by the second sweep
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {
        WebhookDelivery.Status.PROCESSED
    }


@pytest.mark.django_db
def test_health_reports_the_waiting_delivery_until_the_sweep_takes_it(
    client, monitored
):
    """The backlog that did not move while "/healthz said ok" (issue 16): a verified
    delivery stored six minutes ago, never processed."""
    WebhookDelivery.objects.create(
        provider="stripe",
        event_id="evt_waiting",
        raw_body="{}",
        signature_valid=True,
        event={"event_id": "evt_waiting", "kind": "ignored", "provider_type": "x"},
    )
    WebhookDelivery.objects.update(received_at=timezone.now() - dt.timedelta(minutes=6))

    response = full(client)

    assert response.status_code == 503
    backlog = response.json()["components"]["backlog:payment_webhooks"]
    assert backlog["status"] == "error"
    assert 360 <= backlog["oldest_due_seconds"] < 370

    assert webhooks_retry_due() == 1
    assert full(client).status_code == 200
