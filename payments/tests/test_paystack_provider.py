"""PaystackProvider against a fake Paystack served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest

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
from payments.providers.paystack.client import SERVICE
from payments.providers.paystack.provider import PaystackProvider
from payments.tests.fakes.paystack_server import PaystackFake
from ticketing.lib.http import CircuitOpen, session_for
from ticketing.lib.http_errors import MalformedResponse

# The fake's fixture, made available to this module (payments/tests/conftest.py
# belongs to the Stripe tests).

SECRET = "sk_test_paystack_fake_0123456789"


def make_request(reference: str = "BK7QXR-1", **changes) -> PaymentRequest:
    values = {
        "booking_reference": "BK7QXR",
        "attempt_reference": reference,
        "amount_minor": 1_250_000,  # NGN 12,500.00 in kobo
        "currency": "ngn",
        "buyer_email": "ada@example.com",
        "description": "Afrobeats Night · BK7QXR",
        "metadata": {"booking": "BK7QXR", "organiser": "lagos-live"},
        "return_url": "https://tickets.example.com/pay/paystack/return/",
        "idempotency_key": "payment:BK7QXR:paystack:1:1250000:NGN",
    }
    values.update(changes)
    return PaymentRequest(**values)


@pytest.fixture
def provider(paystack_fake):
    return PaystackProvider(Credentials(secret_key=paystack_fake.secret_key))


def _paid(provider, fake, reference="BK7QXR-1", amount=1_250_000):
    provider.start_payment(make_request(reference, amount_minor=amount))
    fake.succeed(reference)


# -- start_payment -------------------------------------------------------------


def test_registry_builds_paystack():
    client = get_provider("paystack", Credentials(secret_key=SECRET))
    assert isinstance(client, PaystackProvider)
    assert client.identifier == "paystack"


def test_start_payment_initializes_and_returns_redirect(provider, paystack_fake):
    started = provider.start_payment(make_request())

    assert started.provider_reference == "BK7QXR-1"
    assert started.status == PaymentState.PENDING
    assert started.redirect_url.startswith("https://checkout.paystack.com/ac_")
    assert started.client_secret == ""

    sent = paystack_fake.last_request
    assert (sent.method, sent.path) == ("POST", "/transaction/initialize")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["content-type"].startswith("application/json")
    body = sent.json
    assert body["amount"] == 1_250_000
    assert type(body["amount"]) is int
    assert body["currency"] == "NGN"
    assert body["reference"] == "BK7QXR-1"
    assert body["email"] == "ada@example.com"
    assert body["callback_url"] == "https://tickets.example.com/pay/paystack/return/"
    assert body["metadata"]["booking_reference"] == "BK7QXR"
    assert body["metadata"]["organiser"] == "lagos-live"


def test_timeout_from_settings_on_every_call(
    provider, paystack_fake, monkeypatch, settings
):
    seen = []
    session = session_for(SERVICE, retries=0)
    original = session.request

    def spy(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(*args, **kwargs)

    monkeypatch.setattr(session, "request", spy)
    provider.start_payment(make_request())
    provider.verify_payment("BK7QXR-1")
    paystack_fake.succeed("BK7QXR-1")
    provider.refund("BK7QXR-1", 100, "NGN", "goodwill", "refund:1")
    assert len(seen) == 3
    assert all(timeout == tuple(settings.PAYMENT_HTTP_TIMEOUT) for timeout in seen)


def test_new_attempt_does_not_touch_the_old_one(provider, paystack_fake):
    provider.start_payment(make_request("BK7QXR-1"))
    started = provider.start_payment(
        make_request("BK7QXR-2", amount_minor=900_000), existing_reference="BK7QXR-1"
    )
    assert started.provider_reference == "BK7QXR-2"
    assert started.redirect_url
    assert paystack_fake.transactions["BK7QXR-2"]["amount"] == 900_000
    assert paystack_fake.transactions["BK7QXR-1"]["amount"] == 1_250_000


def test_replay_of_open_attempt_reuses_it(provider, paystack_fake):
    first = provider.start_payment(make_request())
    again = provider.start_payment(make_request(), existing_reference="BK7QXR-1")

    assert again.provider_reference == first.provider_reference == "BK7QXR-1"
    assert again.status == PaymentState.PENDING
    assert again.redirect_url == ""  # verify does not give it: the caller keeps its
    assert [r.path for r in paystack_fake.requests] == [
        "/transaction/initialize",
        "/transaction/initialize",
        "/transaction/verify/BK7QXR-1",
    ]
    assert paystack_fake.requests[1].status == 400
    assert len(paystack_fake.transactions) == 1


def test_replay_with_changed_amount_moves_to_a_derived_reference(
    provider, paystack_fake
):
    provider.start_payment(make_request())
    started = provider.start_payment(
        make_request(amount_minor=1_500_000), existing_reference="BK7QXR-1"
    )
    assert started.provider_reference == "BK7QXR-1.r2"
    assert started.redirect_url
    assert paystack_fake.transactions["BK7QXR-1.r2"]["amount"] == 1_500_000

    # Replayed again: converges on the same derived transaction.
    again = provider.start_payment(
        make_request(amount_minor=1_500_000), existing_reference="BK7QXR-1.r2"
    )
    assert again.provider_reference == "BK7QXR-1.r2"
    assert len(paystack_fake.transactions) == 2


def test_duplicate_unknown_to_caller_gets_a_fresh_checkout(provider, paystack_fake):
    # An earlier call timed out after Paystack created BK7QXR-1: the caller has no
    # checkout URL for it, so a derived reference with its own URL is opened.
    provider.start_payment(make_request())
    started = provider.start_payment(make_request())
    assert started.provider_reference == "BK7QXR-1.r2"
    assert started.redirect_url


def test_duplicate_already_paid_reports_succeeded(provider, paystack_fake):
    _paid(provider, paystack_fake)
    started = provider.start_payment(make_request())
    assert started.provider_reference == "BK7QXR-1"
    assert started.status == PaymentState.SUCCEEDED


def test_invalid_request_is_rejected_before_any_call(provider, paystack_fake):
    with pytest.raises(ProviderRejected):
        provider.start_payment(make_request("BK 7/1"))
    with pytest.raises(ProviderRejected):
        provider.start_payment(make_request(amount_minor=0))
    with pytest.raises(ProviderRejected):
        provider.start_payment(make_request(buyer_email=""))
    assert paystack_fake.requests == []


# -- verify_payment ------------------------------------------------------------


def test_verify_success(provider, paystack_fake):
    _paid(provider, paystack_fake)
    payment = provider.verify_payment("BK7QXR-1")

    assert payment.provider_reference == "BK7QXR-1"
    assert payment.status == PaymentState.SUCCEEDED
    assert payment.amount_minor == 1_250_000
    assert payment.currency == "NGN"
    assert payment.raw["authorization"]["authorization_code"] == "[redacted]"
    sent = paystack_fake.last_request
    assert (sent.method, sent.path) == ("GET", "/transaction/verify/BK7QXR-1")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"


def test_verify_reports_paid_amount_and_lower_case_currency(provider, paystack_fake):
    provider.start_payment(make_request())
    paystack_fake.succeed("BK7QXR-1", amount=1_000, currency="ngn")
    payment = provider.verify_payment("BK7QXR-1")
    assert (payment.amount_minor, payment.currency) == (1_000, "NGN")


@pytest.mark.parametrize(
    ("paystack_status", "ours"),
    [
        ("success", PaymentState.SUCCEEDED),
        ("failed", PaymentState.FAILED),
        ("reversed", PaymentState.FAILED),
        ("abandoned", PaymentState.PENDING),
        ("ongoing", PaymentState.PENDING),
        ("pending", PaymentState.PENDING),
        ("something_new", PaymentState.PENDING),
    ],
)
def test_verify_maps_statuses(provider, paystack_fake, paystack_status, ours):
    provider.start_payment(make_request())
    paystack_fake.set_status("BK7QXR-1", paystack_status)
    assert provider.verify_payment("BK7QXR-1").status == ours


def test_verify_unknown_reference_is_rejected(provider, paystack_fake):
    with pytest.raises(ProviderRejected) as caught:
        provider.verify_payment("NOPE-1")
    assert caught.value.status == 400
    assert "not found" in str(caught.value)


def test_cancel_is_a_no_op(provider, paystack_fake):
    provider.start_payment(make_request())
    count = len(paystack_fake.requests)
    assert provider.cancel_payment("BK7QXR-1") is None
    assert len(paystack_fake.requests) == count


# -- refund --------------------------------------------------------------------


def test_partial_then_full_refund(provider, paystack_fake):
    _paid(provider, paystack_fake)

    partial = provider.refund("BK7QXR-1", 250_000, "ngn", "one seat", "refund:1")
    assert partial.provider_reference == "BK7QXR-1"
    assert partial.amount_minor == 250_000
    assert partial.currency == "NGN"
    assert partial.status == "pending"
    assert partial.provider_refund_id.isdigit()
    sent = paystack_fake.last_request
    assert (sent.method, sent.path) == ("POST", "/refund")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json == {
        "transaction": "BK7QXR-1",
        "amount": 250_000,
        "currency": "NGN",
        "merchant_note": "one seat",
    }
    assert type(sent.json["amount"]) is int

    rest = provider.refund("BK7QXR-1", 1_000_000, "NGN", "event cancelled", "r:2")
    assert rest.amount_minor == 1_000_000
    assert rest.provider_refund_id != partial.provider_refund_id

    with pytest.raises(ProviderRejected) as caught:
        provider.refund("BK7QXR-1", 1, "NGN", "one kobo too many", "refund:3")
    assert caught.value.status == 400
    assert "more than" in str(caught.value)


def test_refund_of_unpaid_transaction_is_rejected(provider, paystack_fake):
    provider.start_payment(make_request())
    with pytest.raises(ProviderRejected):
        provider.refund("BK7QXR-1", 100, "NGN", "", "refund:1")


def test_refund_validates_amount_locally(provider, paystack_fake):
    for amount in (0, -5, 10.5, True):
        with pytest.raises(ProviderRejected):
            provider.refund("BK7QXR-1", amount, "NGN", "", "refund:1")
    assert paystack_fake.requests == []


def test_refund_answer_without_id_is_not_retryable(provider, paystack_fake):
    paystack_fake.fail_next(200, body=json.dumps({"status": True, "data": {}}))
    with pytest.raises(MalformedResponse) as caught:
        provider.refund("BK7QXR-1", 100, "NGN", "", "refund:1")
    assert not caught.value.retryable
    assert "check the dashboard" in str(caught.value)


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable(provider, paystack_fake, status):
    paystack_fake.fail_next(status)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.start_payment(make_request())
    assert caught.value.status == status
    assert caught.value.retryable


def test_429_honours_retry_after(provider, paystack_fake):
    paystack_fake.fail_next(
        429, message="Too many requests", headers={"Retry-After": "17"}
    )
    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify_payment("BK7QXR-1")
    assert caught.value.status == 429
    assert caught.value.retry_after == 17.0


def test_retry_after_as_http_date(provider, paystack_fake):
    paystack_fake.fail_next(
        503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify_payment("BK7QXR-1")
    assert caught.value.retry_after == 0.0  # a date in the past: now


def test_wrong_key_is_auth_error(paystack_fake):
    provider = PaystackProvider(Credentials(secret_key="sk_test_wrong"))
    with pytest.raises(ProviderAuthError) as caught:
        provider.start_payment(make_request())
    assert caught.value.status == 401
    assert "Invalid key" in str(caught.value)
    assert "sk_test_wrong" not in str(caught.value)
    assert not caught.value.retryable


def test_403_is_auth_error(provider, paystack_fake):
    paystack_fake.fail_next(403, message="IP address not allowed")
    with pytest.raises(ProviderAuthError):
        provider.verify_payment("BK7QXR-1")


def test_400_is_rejected_with_paystack_message(provider, paystack_fake):
    paystack_fake.fail_next(400, message="Invalid Email Address Passed")
    with pytest.raises(ProviderRejected) as caught:
        provider.start_payment(make_request())
    assert not isinstance(caught.value, ProviderAuthError)
    assert caught.value.status == 400
    assert "Invalid Email Address Passed" in str(caught.value)
    assert not caught.value.retryable


def test_connection_refused_is_unavailable(provider, paystack_fake, settings):
    paystack_fake.stop()
    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify_payment("BK7QXR-1")
    assert caught.value.__cause__ is not None


def test_timeout_is_unavailable(provider, settings):
    # A listening socket that never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings.PAYSTACK_API_BASE = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.PAYMENT_HTTP_TIMEOUT = (0.5, 0.2)
        with pytest.raises(ProviderUnavailable, match="timed out"):
            provider.verify_payment("BK7QXR-1")


@pytest.mark.parametrize(
    "body",
    [
        "<html>Bad gateway, but 200</html>",
        "",
        "[1, 2]",
        json.dumps({"data": {"reference": "BK7QXR-1"}}),  # no status
        json.dumps({"status": True, "data": "nope"}),
        json.dumps({"status": True}),
    ],
)
def test_malformed_answer_is_unavailable(provider, paystack_fake, body):
    paystack_fake.fail_next(200, body=body)
    with pytest.raises(ProviderUnavailable):
        provider.verify_payment("BK7QXR-1")


def test_false_envelope_with_200_is_rejected(provider, paystack_fake):
    paystack_fake.fail_next(200, body=json.dumps({"status": False, "message": "No"}))
    with pytest.raises(ProviderRejected, match="No"):
        provider.verify_payment("BK7QXR-1")


@pytest.mark.parametrize(
    "data",
    [
        {"reference": "BK7QXR-1", "status": "success", "currency": "NGN"},
        {
            "reference": "BK7QXR-1",
            "status": "success",
            "amount": "12.5",
            "currency": "NGN",
        },
        {"reference": "BK7QXR-1", "status": "success", "amount": 5},
        {"reference": "BK7QXR-1", "amount": 5, "currency": "NGN"},
        {"reference": "OTHER-1", "status": "success", "amount": 5, "currency": "NGN"},
    ],
)
def test_verify_missing_or_bad_fields_is_typed_error(provider, paystack_fake, data):
    paystack_fake.fail_next(200, body=json.dumps({"status": True, "data": data}))
    with pytest.raises(ProviderUnavailable):
        provider.verify_payment("BK7QXR-1")


def test_initialize_without_authorization_url_is_typed_error(provider, paystack_fake):
    paystack_fake.fail_next(
        200, body=json.dumps({"status": True, "data": {"reference": "BK7QXR-1"}})
    )
    with pytest.raises(ProviderUnavailable, match="authorization_url"):
        provider.start_payment(make_request())


def test_error_body_not_json_still_maps_status(provider, paystack_fake):
    paystack_fake.fail_next(502, body="<html>nginx</html>")
    with pytest.raises(ProviderUnavailable):
        provider.verify_payment("BK7QXR-1")
    paystack_fake.fail_next(404, body="")
    with pytest.raises(ProviderRejected):
        provider.verify_payment("BK7QXR-1")


# -- webhooks ------------------------------------------------------------------


def _signed(event, data, secret=SECRET):
    return PaystackFake.signed_event(event, data, secret)


def test_signed_event_matches_paystack_algorithm():
    body, signature = _signed("charge.success", {"reference": "X"})
    assert signature == hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()
    assert signature == signature.lower()
    assert len(signature) == 128


def test_webhook_charge_success(provider):
    data = {
        "id": 302961,
        "status": "success",
        "reference": "BK7QXR-1",
        "amount": 1_250_000,
        "currency": "NGN",
        "paid_at": "2026-03-01T12:00:00.000Z",
        "authorization": {"authorization_code": "AUTH_secret"},
    }
    body, signature = _signed("charge.success", data)
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})

    assert event.kind == EventKind.PAYMENT_SUCCEEDED
    assert event.provider_type == "charge.success"
    assert event.event_id == "charge.success:302961:success"
    assert event.provider_reference == "BK7QXR-1"
    assert event.amount_minor == 1_250_000
    assert event.currency == "NGN"
    assert event.occurred_at is not None
    assert event.occurred_at.tzinfo is not None
    assert event.raw["data"]["authorization"]["authorization_code"] == "[redacted]"


@pytest.mark.parametrize(
    ("event_name", "status", "ours"),
    [
        ("refund.pending", "pending", "pending"),
        ("refund.processing", "processing", "pending"),
        ("refund.processed", "processed", "succeeded"),
        ("refund.failed", "failed", "failed"),
    ],
)
def test_webhook_refund_events(provider, event_name, status, ours):
    data = {
        "status": status,
        "transaction_reference": "BK7QXR-1",
        "refund_reference": "132013318360",
        "amount": "250000",  # Paystack's sample sends a string
        "currency": "NGN",
        "domain": "test",
    }
    body, signature = _signed(event_name, data)
    event = provider.parse_webhook(body, {"X-Paystack-Signature": signature})

    assert event.kind == EventKind.REFUND_UPDATED
    assert event.provider_type == event_name
    assert event.provider_reference == "BK7QXR-1"
    assert event.event_id == f"{event_name}:132013318360:{status}"
    refund = event.refund
    assert refund is not None
    assert refund.provider_reference == "BK7QXR-1"
    assert refund.provider_refund_id == "132013318360"
    assert refund.amount_minor == 250_000
    assert refund.currency == "NGN"
    assert refund.status == ours


def test_webhook_refund_prefers_paystack_refund_id(provider):
    data = {
        "id": 4100000009,
        "status": "processed",
        "transaction_reference": "BK7QXR-1",
        "refund_reference": "ARN123",
        "amount": 100,
        "currency": "ngn",
    }
    body, signature = _signed("refund.processed", data)
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})
    assert event.refund.provider_refund_id == "4100000009"
    assert event.refund.currency == "NGN"


def test_webhook_dispute_opened(provider):
    data = {
        "id": 358950,
        "status": "awaiting-merchant-feedback",
        "refund_amount": 1_250_000,
        "currency": "NGN",
        "transaction": {"id": 302961, "reference": "BK7QXR-1", "amount": 1_250_000},
    }
    body, signature = _signed("charge.dispute.create", data)
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})
    assert event.kind == EventKind.DISPUTE_OPENED
    assert event.provider_reference == "BK7QXR-1"
    assert event.event_id == "charge.dispute.create:358950:awaiting-merchant-feedback"


@pytest.mark.parametrize(
    "event_name", ["transfer.success", "subscription.create", "charge.dispute.remind"]
)
def test_webhook_other_events_ignored(provider, event_name):
    body, signature = _signed(event_name, {"id": 1, "status": "x"})
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})
    assert event.kind == EventKind.IGNORED
    assert event.provider_type == event_name
    assert event.event_id == f"{event_name}:1:x"


def test_webhook_event_id_is_stable_and_distinct(provider):
    def parse(event_name, data):
        body, signature = _signed(event_name, data)
        return provider.parse_webhook(body, {"x-paystack-signature": signature})

    data = {"status": "pending", "transaction_reference": "T1", "amount": 5}
    data["currency"] = "NGN"
    first = parse("refund.pending", data)
    assert parse("refund.pending", data).event_id == first.event_id  # redelivery
    other = parse("refund.pending", {**data, "amount": 6})  # another refund
    assert other.event_id != first.event_id
    assert first.event_id.startswith("refund.pending:sha256-")


@pytest.mark.parametrize(
    "header",
    ["x-paystack-signature", "X-Paystack-Signature", "X-PAYSTACK-SIGNATURE"],
)
def test_webhook_header_name_is_case_insensitive(provider, header):
    body, signature = _signed("charge.success", {"reference": "BK7QXR-1", "id": 1})
    event = provider.parse_webhook(body, {header: signature, "Content-Type": "json"})
    assert event.kind == EventKind.PAYMENT_SUCCEEDED


def test_webhook_forged_signature(provider):
    body, _ = _signed("charge.success", {"reference": "BK7QXR-1"})
    _, other_key_signature = _signed(
        "charge.success", {"reference": "BK7QXR-1"}, secret="sk_test_attacker"
    )
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"x-paystack-signature": other_key_signature})
    tampered = body.replace(b"BK7QXR-1", b"BK7QXR-2")
    _, signature = _signed("charge.success", {"reference": "BK7QXR-1"})
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(tampered, {"x-paystack-signature": signature})
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"x-paystack-signature": "é" * 128})


def test_webhook_missing_signature(provider):
    body, signature = _signed("charge.success", {"reference": "BK7QXR-1"})
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {})
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"x-paystack-signature": ""})
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"x-stripe-signature": signature})


def test_webhook_sha256_signature_is_refused(provider):
    body, _ = _signed("charge.success", {"reference": "BK7QXR-1"})
    sha256 = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(body, {"x-paystack-signature": sha256})


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"event": "charge.success"}', b'{"data": {}}'],
)
def test_webhook_signed_but_malformed_is_ignored(provider, body):
    signature = hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})
    assert event.kind == EventKind.IGNORED
    assert event.event_id.startswith("malformed:sha256-")


def test_webhook_charge_success_without_reference_is_ignored(provider):
    body, signature = _signed("charge.success", {"id": 9, "status": "success"})
    event = provider.parse_webhook(body, {"x-paystack-signature": signature})
    assert event.kind == EventKind.IGNORED


# -- the shared HTTP client ----------------------------------------------------


def test_calls_share_the_http_clients_breaker_and_log_without_the_key(
    provider, paystack_fake, settings, caplog
):
    settings.INTEGRATIONS_BREAKER_FAILURES = 2
    paystack_fake.fail_next(503)
    paystack_fake.fail_next(502)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            provider.verify_payment("BK7QXR-1")
    sent = len(paystack_fake.requests)

    with pytest.raises(CircuitOpen):  # Paystack keeps failing: stop calling it
        provider.verify_payment("BK7QXR-1")
    assert len(paystack_fake.requests) == sent
    assert "paystack GET /transaction/verify/BK7QXR-1 -> 503" in caplog.text
    assert paystack_fake.secret_key not in caplog.text


def test_a_get_is_not_retried_inside_the_call(provider, paystack_fake):
    """Verify runs inside a buyer's request: the error is surfaced at once and the
    task or the next page load tries again."""
    paystack_fake.fail_next(503)
    with pytest.raises(ProviderUnavailable):
        provider.verify_payment("BK7QXR-1")
    assert [r.status for r in paystack_fake.requests] == [503]
