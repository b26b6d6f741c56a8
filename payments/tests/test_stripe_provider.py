"""StripeProvider against a local fake of Stripe's API, through the real SDK."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import pytest
import stripe

from payments.providers import get_provider
from payments.providers.base import (
    Credentials,
    EventKind,
    PaymentRequest,
    PaymentState,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    WebhookSignatureError,
)
from payments.providers.stripe import StripeProvider


@pytest.fixture
def provider(stripe_fake) -> StripeProvider:
    return StripeProvider(
        Credentials(
            secret_key=stripe_fake.secret_key,
            public_key="pk_test_fake",
            webhook_secret=stripe_fake.webhook_secret,
        )
    )


def make_request(**overrides) -> PaymentRequest:
    values = {
        "booking_reference": "BK7QX2",
        "attempt_reference": "BK7QX2-1",
        "amount_minor": 2500,
        "currency": "GBP",
        "buyer_email": "ada@example.com",
        "description": "2 tickets: Jazz night",
        "metadata": {"organiser": "org-12"},
        "return_url": "https://tickets.example.com/b/BK7QX2/paid",
        "idempotency_key": "pay:BK7QX2:1",
    }
    values.update(overrides)
    return PaymentRequest(**values)


def test_registry_returns_the_stripe_provider():
    provider = get_provider("stripe", Credentials(secret_key="sk_test_x"))
    assert isinstance(provider, StripeProvider)
    assert provider.identifier == "stripe"


# start_payment


def test_start_creates_one_payment_intent(provider, stripe_fake):
    started = provider.start_payment(make_request())

    assert stripe_fake.calls["payment_intents.create"] == 1
    sent = stripe_fake.last("payment_intents.create")
    assert sent.params == {
        "amount": "2500",
        "currency": "gbp",
        "description": "2 tickets: Jazz night",
        "metadata": {
            "organiser": "org-12",
            "booking_reference": "BK7QX2",
            "attempt_reference": "BK7QX2-1",
        },
        "automatic_payment_methods": {"enabled": "true"},
    }
    assert sent.idempotency_key == "pay:BK7QX2:1"
    assert sent.headers["authorization"] == f"Bearer {stripe_fake.secret_key}"

    intent = stripe_fake.payment_intent(started.provider_reference)
    assert started.provider_reference.startswith("pi_")
    assert started.status == PaymentState.PENDING
    assert started.client_secret == intent["client_secret"]
    assert started.redirect_url == ""
    assert started.raw["amount"] == 2500


def test_start_again_with_the_same_key_replays_the_first_answer(provider, stripe_fake):
    first = provider.start_payment(make_request())
    second = provider.start_payment(make_request())

    assert second.provider_reference == first.provider_reference
    assert stripe_fake.calls["payment_intents.create"] == 2
    assert len(stripe_fake.payment_intents) == 1


def test_same_key_with_other_parameters_is_rejected(provider, stripe_fake):
    provider.start_payment(make_request())

    with pytest.raises(ProviderRejected) as caught:
        provider.start_payment(make_request(amount_minor=3000))

    assert caught.value.status == 400
    assert isinstance(caught.value.__cause__, stripe.IdempotencyError)
    assert len(stripe_fake.payment_intents) == 1


def test_start_with_an_open_payment_intent_reuses_it(provider, stripe_fake):
    first = provider.start_payment(make_request())

    again = provider.start_payment(
        make_request(idempotency_key="pay:BK7QX2:2"),
        existing_reference=first.provider_reference,
    )

    assert again.provider_reference == first.provider_reference
    assert again.client_secret == first.client_secret
    assert again.status == PaymentState.PENDING
    assert stripe_fake.calls["payment_intents.create"] == 1
    assert stripe_fake.calls["payment_intents.update"] == 0


@pytest.mark.parametrize(
    "status",
    ["requires_payment_method", "requires_confirmation", "requires_action"],
)
def test_reused_payment_intent_gets_the_new_amount(provider, stripe_fake, status):
    first = provider.start_payment(make_request())
    stripe_fake.set_status(first.provider_reference, status)

    again = provider.start_payment(
        make_request(amount_minor=3750, idempotency_key="pay:BK7QX2:2"),
        existing_reference=first.provider_reference,
    )

    assert again.provider_reference == first.provider_reference
    assert stripe_fake.calls["payment_intents.create"] == 1
    assert stripe_fake.calls["payment_intents.update"] == 1
    update = stripe_fake.last("payment_intents.update")
    assert update.path == f"/v1/payment_intents/{first.provider_reference}"
    assert update.params == {"amount": "3750", "currency": "gbp"}
    assert stripe_fake.payment_intent(first.provider_reference)["amount"] == 3750
    assert again.raw["amount"] == 3750


def test_reused_payment_intent_after_a_declined_card(provider, stripe_fake):
    first = provider.start_payment(make_request())
    stripe_fake.fail(first.provider_reference)

    again = provider.start_payment(
        make_request(idempotency_key="pay:BK7QX2:2"),
        existing_reference=first.provider_reference,
    )

    assert again.provider_reference == first.provider_reference
    assert again.status == PaymentState.PENDING
    assert stripe_fake.calls["payment_intents.create"] == 1


def test_canceled_payment_intent_is_replaced(provider, stripe_fake):
    first = provider.start_payment(make_request())
    provider.cancel_payment(first.provider_reference)

    # Even a caller that reuses the key gets a fresh PaymentIntent, not a replay of
    # the canceled one's creation.
    again = provider.start_payment(
        make_request(amount_minor=3000),
        existing_reference=first.provider_reference,
    )

    assert again.provider_reference != first.provider_reference
    assert again.status == PaymentState.PENDING
    assert stripe_fake.calls["payment_intents.create"] == 2
    sent = stripe_fake.last("payment_intents.create")
    assert sent.params["amount"] == "3000"
    assert sent.idempotency_key == f"pay:BK7QX2:1:after:{first.provider_reference}"
    assert stripe_fake.payment_intent(again.provider_reference)["status"] == (
        "requires_payment_method"
    )


def test_unknown_existing_reference_is_replaced(provider, stripe_fake):
    started = provider.start_payment(make_request(), existing_reference="pi_gone")

    assert started.provider_reference in stripe_fake.payment_intents
    assert stripe_fake.calls["payment_intents.retrieve"] == 1
    assert stripe_fake.calls["payment_intents.create"] == 1


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("succeeded", PaymentState.SUCCEEDED),
        ("processing", PaymentState.PENDING),
    ],
)
def test_paid_or_processing_payment_intent_is_never_replaced(
    provider, stripe_fake, status, state
):
    first = provider.start_payment(make_request())
    if status == "succeeded":
        stripe_fake.succeed(first.provider_reference)
    else:
        stripe_fake.set_status(first.provider_reference, status)

    again = provider.start_payment(
        make_request(amount_minor=9999, idempotency_key="pay:BK7QX2:2"),
        existing_reference=first.provider_reference,
    )

    assert again.provider_reference == first.provider_reference
    assert again.status == state
    assert stripe_fake.calls["payment_intents.create"] == 1
    assert stripe_fake.calls["payment_intents.update"] == 0


def test_zero_decimal_currency_passes_through_unchanged(provider, stripe_fake):
    started = provider.start_payment(
        make_request(amount_minor=5000, currency="JPY", idempotency_key="pay:jpy")
    )

    sent = stripe_fake.last("payment_intents.create")
    assert (sent.params["amount"], sent.params["currency"]) == ("5000", "jpy")
    stripe_fake.succeed(started.provider_reference)
    payment = provider.verify_payment(started.provider_reference)
    assert (payment.amount_minor, payment.currency) == (5000, "JPY")


# verify_payment


def test_verify_open_payment(provider, stripe_fake):
    started = provider.start_payment(make_request())

    payment = provider.verify_payment(started.provider_reference)

    assert payment.provider_reference == started.provider_reference
    assert payment.status == PaymentState.PENDING
    assert payment.amount_minor == 2500
    assert payment.currency == "GBP"
    assert payment.raw["status"] == "requires_payment_method"
    assert stripe_fake.last("payment_intents.retrieve").path == (
        f"/v1/payment_intents/{started.provider_reference}"
    )


def test_verify_succeeded_payment_reports_the_amount_received(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.succeed(started.provider_reference, amount_received=2400)

    payment = provider.verify_payment(started.provider_reference)

    assert payment.status == PaymentState.SUCCEEDED
    assert payment.amount_minor == 2400


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("requires_payment_method", PaymentState.PENDING),
        ("requires_confirmation", PaymentState.PENDING),
        ("requires_action", PaymentState.PENDING),
        ("processing", PaymentState.PENDING),
        ("requires_capture", PaymentState.PENDING),
        ("canceled", PaymentState.CANCELED),
        ("succeeded", PaymentState.SUCCEEDED),
    ],
)
def test_verify_maps_statuses(provider, stripe_fake, status, state):
    started = provider.start_payment(make_request())
    stripe_fake.set_status(started.provider_reference, status)

    assert provider.verify_payment(started.provider_reference).status == state


def test_verify_after_a_declined_card_is_failed_with_the_reason(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.fail(started.provider_reference, code="card_declined")

    payment = provider.verify_payment(started.provider_reference)

    assert payment.status == PaymentState.FAILED
    assert payment.amount_minor == 2500
    assert payment.failure_code == "generic_decline"
    assert payment.failure_message == "Your card was declined."


def test_verify_unknown_payment_is_rejected(provider):
    with pytest.raises(ProviderRejected) as caught:
        provider.verify_payment("pi_missing")
    assert caught.value.status == 404


# cancel_payment


def test_cancel_open_payment(provider, stripe_fake):
    started = provider.start_payment(make_request())

    provider.cancel_payment(started.provider_reference)

    assert stripe_fake.calls["payment_intents.cancel"] == 1
    assert stripe_fake.last("payment_intents.cancel").params == {
        "cancellation_reason": "abandoned"
    }
    intent = stripe_fake.payment_intent(started.provider_reference)
    assert intent["status"] == "canceled"
    assert intent["cancellation_reason"] == "abandoned"


@pytest.mark.parametrize("status", ["canceled", "succeeded"])
def test_cancel_final_payment_is_a_no_op(provider, stripe_fake, status):
    started = provider.start_payment(make_request())
    stripe_fake.set_status(started.provider_reference, status)

    provider.cancel_payment(started.provider_reference)

    assert stripe_fake.calls["payment_intents.cancel"] == 0
    assert stripe_fake.payment_intent(started.provider_reference)["status"] == status


def test_cancel_processing_payment_is_rejected(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.set_status(started.provider_reference, "processing")

    with pytest.raises(ProviderRejected):
        provider.cancel_payment(started.provider_reference)


# refund


def test_partial_then_full_refund(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.succeed(started.provider_reference)
    reference = started.provider_reference

    first = provider.refund(reference, 1000, "GBP", "requested_by_customer", "rf:1")

    sent = stripe_fake.last("refunds.create")
    assert sent.params == {
        "payment_intent": reference,
        "amount": "1000",
        "reason": "requested_by_customer",
        "metadata": {"reason": "requested_by_customer"},
    }
    assert sent.idempotency_key == "rf:1"
    assert first.provider_refund_id.startswith("re_")
    assert first.provider_reference == reference
    assert (first.amount_minor, first.currency, first.status) == (
        1000,
        "GBP",
        "succeeded",
    )

    second = provider.refund(reference, 1500, "GBP", "Event cancelled", "rf:2")

    sent = stripe_fake.last("refunds.create")
    assert "reason" not in sent.params  # not one of Stripe's reasons
    assert sent.params["metadata"] == {"reason": "Event cancelled"}
    assert second.amount_minor == 1500
    assert second.provider_refund_id != first.provider_refund_id
    assert stripe_fake.charge(reference)["amount_refunded"] == 2500

    with pytest.raises(ProviderRejected) as caught:
        provider.refund(reference, 1, "GBP", "", "rf:3")
    assert caught.value.status == 400


def test_refund_more_than_received_is_rejected(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.succeed(started.provider_reference, amount_received=2000)

    with pytest.raises(ProviderRejected) as caught:
        provider.refund(started.provider_reference, 2500, "GBP", "", "rf:1")

    assert caught.value.status == 400
    assert isinstance(caught.value.__cause__, stripe.InvalidRequestError)
    assert stripe_fake.refunds == {}


def test_refund_retried_with_the_same_key_refunds_once(provider, stripe_fake):
    started = provider.start_payment(make_request())
    stripe_fake.succeed(started.provider_reference)

    first = provider.refund(started.provider_reference, 500, "GBP", "", "rf:1")
    again = provider.refund(started.provider_reference, 500, "GBP", "", "rf:1")

    assert again.provider_refund_id == first.provider_refund_id
    assert len(stripe_fake.refunds) == 1


def test_refund_of_an_unpaid_payment_is_rejected(provider, stripe_fake):
    started = provider.start_payment(make_request())

    with pytest.raises(ProviderRejected):
        provider.refund(started.provider_reference, 500, "GBP", "", "rf:1")


# Errors


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_unavailable_and_not_retried(provider, stripe_fake, status):
    stripe_fake.fail_next(status=status)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify_payment("pi_whatever")

    assert caught.value.status == status
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, stripe.APIError)
    assert stripe_fake.calls["payment_intents.retrieve"] == 1


def test_server_error_on_create_stores_nothing(provider, stripe_fake):
    stripe_fake.fail_next(status=503)
    with pytest.raises(ProviderUnavailable):
        provider.start_payment(make_request())
    assert stripe_fake.payment_intents == {}

    started = provider.start_payment(make_request())  # the task's retry
    assert list(stripe_fake.payment_intents) == [started.provider_reference]


def test_rate_limit_is_unavailable_with_retry_after(provider, stripe_fake):
    stripe_fake.fail_next(status=429, retry_after=7)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.start_payment(make_request())

    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert isinstance(caught.value.__cause__, stripe.RateLimitError)


def test_connection_refused_is_unavailable(stripe_fake, settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    provider = StripeProvider(Credentials(secret_key=stripe_fake.secret_key))

    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify_payment("pi_whatever")

    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, stripe.APIConnectionError)


def test_read_timeout_is_unavailable(provider, stripe_fake, settings):
    settings.PAYMENT_HTTP_TIMEOUT = (1.0, 0.2)
    stripe_fake.slow_next(1.0)

    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        provider.verify_payment("pi_whatever")

    assert time.monotonic() - started < 0.9


def test_wrong_key_is_an_auth_error_without_the_key(stripe_fake):
    wrong = "sk_test_wrongwrongwrong1234"
    provider = StripeProvider(Credentials(secret_key=wrong))

    with pytest.raises(ProviderAuthError) as caught:
        provider.start_payment(make_request())

    assert caught.value.status == 401
    assert not caught.value.retryable
    assert wrong not in str(caught.value)
    assert isinstance(caught.value.__cause__, stripe.AuthenticationError)
    assert stripe_fake.payment_intents == {}


def test_forbidden_is_an_auth_error(provider, stripe_fake):
    stripe_fake.fail_next(status=403, message="This key cannot do that.")

    with pytest.raises(ProviderAuthError) as caught:
        provider.verify_payment("pi_whatever")

    assert caught.value.status == 403
    assert isinstance(caught.value.__cause__, stripe.PermissionError)


def test_bad_request_is_rejected(provider, stripe_fake):
    with pytest.raises(ProviderRejected) as caught:
        provider.start_payment(make_request(amount_minor=0))

    assert caught.value.status == 400
    assert not isinstance(caught.value, ProviderAuthError)
    assert not caught.value.retryable
    assert isinstance(caught.value.__cause__, stripe.InvalidRequestError)


def test_card_error_is_rejected(provider, stripe_fake):
    stripe_fake.fail_next(status=402, error_type="card_error", code="card_declined")

    with pytest.raises(ProviderRejected) as caught:
        provider.verify_payment("pi_whatever")

    assert caught.value.status == 402
    assert isinstance(caught.value.__cause__, stripe.CardError)


# Webhooks


def deliver(provider, stripe_fake, event_type, obj, **sign):
    body, signature = stripe_fake.signed_event(event_type, obj, **sign)
    return provider.parse_webhook(body, {"Stripe-Signature": signature}), body


def paid_intent(provider, stripe_fake, **request):
    started = provider.start_payment(make_request(**request))
    return stripe_fake.succeed(started.provider_reference)


def test_payment_succeeded_event(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    before = int(time.time())

    event, body = deliver(provider, stripe_fake, "payment_intent.succeeded", intent)

    assert event.event_id == json.loads(body)["id"]
    assert event.event_id.startswith("evt_")
    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert event.provider_type == "payment_intent.succeeded"
    assert event.provider_reference == intent["id"]
    assert (event.amount_minor, event.currency) == (2500, "GBP")
    assert event.refund is None
    assert event.occurred_at.tzinfo is dt.UTC
    assert event.occurred_at.timestamp() >= before
    assert event.raw["data"]["object"]["id"] == intent["id"]


def test_payment_succeeded_event_reports_the_amount_received(provider, stripe_fake):
    started = provider.start_payment(make_request())
    intent = stripe_fake.succeed(started.provider_reference, amount_received=2000)

    event, _ = deliver(provider, stripe_fake, "payment_intent.succeeded", intent)

    assert event.amount_minor == 2000


@pytest.mark.parametrize(
    ("event_type", "kind", "change"),
    [
        ("payment_intent.payment_failed", EventKind.PAYMENT_FAILED, "fail"),
        ("payment_intent.canceled", EventKind.PAYMENT_CANCELED, "cancel"),
    ],
)
def test_payment_failed_and_canceled_events(
    provider, stripe_fake, event_type, kind, change
):
    started = provider.start_payment(make_request(currency="jpy", amount_minor=4000))
    if change == "fail":
        intent = stripe_fake.fail(started.provider_reference)
    else:
        provider.cancel_payment(started.provider_reference)
        intent = stripe_fake.payment_intent(started.provider_reference)

    event, _ = deliver(provider, stripe_fake, event_type, intent)

    assert event.kind == kind
    assert event.provider_reference == started.provider_reference
    assert (event.amount_minor, event.currency) == (4000, "JPY")


@pytest.mark.parametrize(
    ("event_type", "refund_status", "status"),
    [
        ("refund.created", "pending", "pending"),
        ("refund.updated", "succeeded", "succeeded"),
        ("refund.updated", "requires_action", "pending"),
        ("refund.updated", "canceled", "failed"),
        ("refund.failed", "failed", "failed"),
    ],
)
def test_refund_events(provider, stripe_fake, event_type, refund_status, status):
    intent = paid_intent(provider, stripe_fake)
    refund = provider.refund(intent["id"], 700, "GBP", "", "rf:1")
    obj = {**stripe_fake.refunds[refund.provider_refund_id], "status": refund_status}

    event, _ = deliver(provider, stripe_fake, event_type, obj)

    assert event.kind == EventKind.REFUND_UPDATED
    assert event.provider_reference == intent["id"]
    assert (event.amount_minor, event.currency) == (700, "GBP")
    assert event.refund.provider_refund_id == refund.provider_refund_id
    assert event.refund.provider_reference == intent["id"]
    assert (event.refund.amount_minor, event.refund.currency) == (700, "GBP")
    assert event.refund.status == status


def test_charge_refunded_event_takes_the_latest_refund(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    provider.refund(intent["id"], 700, "GBP", "", "rf:1")
    latest = provider.refund(intent["id"], 300, "GBP", "", "rf:2")
    charge = stripe_fake.charge(intent["id"])
    assert charge["amount_refunded"] == 1000

    event, _ = deliver(provider, stripe_fake, "charge.refunded", charge)

    assert event.kind == EventKind.REFUND_UPDATED
    assert event.provider_reference == intent["id"]
    assert event.refund.provider_refund_id == latest.provider_refund_id
    assert (event.refund.amount_minor, event.refund.currency) == (300, "GBP")
    assert event.refund.status == "succeeded"


def test_charge_refunded_event_without_refund_list(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    provider.refund(intent["id"], 700, "GBP", "", "rf:1")
    charge = stripe_fake.charge(intent["id"])
    del charge["refunds"]  # not expanded by default in recent API versions

    event, _ = deliver(provider, stripe_fake, "charge.refunded", charge)

    assert event.kind == EventKind.REFUND_UPDATED
    assert event.refund.provider_refund_id == f"charge:{charge['id']}:700"
    assert event.refund.provider_reference == intent["id"]
    assert (event.refund.amount_minor, event.refund.currency) == (700, "GBP")


def test_dispute_event(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    dispute = {
        "id": "du_1",
        "object": "dispute",
        "amount": 2500,
        "currency": "gbp",
        "charge": intent["latest_charge"],
        "payment_intent": intent["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    }

    event, _ = deliver(provider, stripe_fake, "charge.dispute.created", dispute)

    assert event.kind == EventKind.DISPUTE_OPENED
    assert event.provider_reference == intent["id"]
    assert (event.amount_minor, event.currency) == (2500, "GBP")


@pytest.mark.parametrize(
    "event_type",
    ["payment_intent.processing", "customer.created", "charge.succeeded"],
)
def test_other_events_are_ignored(provider, stripe_fake, event_type):
    event, body = deliver(provider, stripe_fake, event_type, {"id": "x_1"})

    assert event.kind == EventKind.IGNORED
    assert event.provider_type == event_type
    assert event.event_id == json.loads(body)["id"]


def test_signature_header_name_is_case_insensitive(provider, stripe_fake):
    body, signature = stripe_fake.signed_event("customer.created", {"id": "cus_1"})

    event = provider.parse_webhook(body, {"stripe-signature": signature})

    assert event.kind == EventKind.IGNORED


def test_forged_signature_is_refused(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    body, signature = stripe_fake.signed_event(
        "payment_intent.succeeded", intent, secret="whsec_someone_else"
    )

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"Stripe-Signature": signature})


def test_tampered_body_is_refused(provider, stripe_fake):
    intent = paid_intent(provider, stripe_fake)
    body, signature = stripe_fake.signed_event("payment_intent.succeeded", intent)
    tampered = body.replace(b'"amount_received": 2500', b'"amount_received": 25000')
    assert tampered != body

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(tampered, {"Stripe-Signature": signature})


@pytest.mark.parametrize("headers", [{}, {"Stripe-Signature": ""}])
def test_missing_signature_is_refused(provider, stripe_fake, headers):
    body, _ = stripe_fake.signed_event("payment_intent.succeeded", {"id": "pi_1"})

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, headers)


@pytest.mark.parametrize("header", ["garbage", "t=notanumber,v1=abc", "t=123"])
def test_malformed_signature_is_refused(provider, stripe_fake, header):
    body, _ = stripe_fake.signed_event("payment_intent.succeeded", {"id": "pi_1"})

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"Stripe-Signature": header})


def test_stale_signature_is_refused(provider, stripe_fake):
    body, signature = stripe_fake.signed_event(
        "payment_intent.succeeded", {"id": "pi_1"}, timestamp=int(time.time()) - 301
    )

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"Stripe-Signature": signature})


def test_recent_signature_within_tolerance_is_accepted(provider, stripe_fake):
    body, signature = stripe_fake.signed_event(
        "customer.created", {"id": "cus_1"}, timestamp=int(time.time()) - 240
    )

    assert provider.parse_webhook(body, {"Stripe-Signature": signature}).event_id


def test_no_webhook_secret_refuses_everything(stripe_fake):
    provider = StripeProvider(Credentials(secret_key=stripe_fake.secret_key))
    body, signature = stripe_fake.signed_event("customer.created", {"id": "cus_1"})

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"Stripe-Signature": signature})


def test_signed_body_that_is_not_json_is_refused(provider, stripe_fake):
    body = b"not json"
    timestamp = int(time.time())
    signature = stripe_fake.sign(body, stripe_fake.webhook_secret, timestamp)

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"Stripe-Signature": signature})
