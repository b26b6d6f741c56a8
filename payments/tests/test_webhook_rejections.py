"""Issue 16 item 5: an unauthenticated POST to a payment webhook must never make the
database grow by its whole body. Refused unread above WEBHOOK_MAX_BODY_BYTES; kept
as an excerpt, its size and hash otherwise, and only so many a minute per address."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import types

import pytest
from django.utils import timezone

from payments.models import WebhookDelivery
from payments.tasks import webhooks_rejected_purge_task
from payments.tests.factories import WebhookDeliveryFactory
from ticketing.inbound import REJECTED_EXCERPT_CHARS, REJECTED_HEADER_CHARS
from ticketing.lib import ratelimit

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_keys(stripe_fake, settings):
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    return stripe_fake


@pytest.fixture
def one_minute(monkeypatch):
    """Every hit counted in the same one-minute window, wherever the test starts."""
    frozen = (int(ratelimit.time.time()) // 60) * 60 + 30.0
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: frozen))


def _unsigned(size: int) -> bytes:
    head = b'{"id": "evt_forged", "type": "payment_intent.succeeded", "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def _post(client, body: bytes, address: str = "127.0.0.1", provider="stripe"):
    return client.post(
        f"/webhooks/{provider}/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=forged",
        HTTP_X_PAYSTACK_SIGNATURE="forged",
        REMOTE_ADDR=address,
    )


def test_an_unsigned_body_is_kept_as_an_excerpt_with_its_size_and_hash(
    client, stripe_keys
):
    body = _unsigned(200_000)

    response = _post(client, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    rejected = WebhookDelivery.objects.get()
    assert rejected.signature_valid is False
    assert rejected.status == WebhookDelivery.Status.REJECTED
    assert rejected.raw_body == body[:REJECTED_EXCERPT_CHARS].decode()
    assert rejected.body_size == 200_000
    assert rejected.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rejected.event_id == "evt_forged"


def test_a_body_over_the_cap_is_refused_unread_and_nothing_is_stored(
    client, stripe_keys, settings
):
    """The probe's 2.4 MB unsigned POST (issue 16) added 2.4 MB to the database."""
    assert settings.WEBHOOK_MAX_BODY_BYTES == 256 * 1024

    response = _post(client, _unsigned(2_400_000))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert not WebhookDelivery.objects.exists()
    # Just under the cap is read, verified, and kept bounded.
    assert _post(client, _unsigned(256 * 1024)).status_code == 400
    assert WebhookDelivery.objects.get().body_size == 256 * 1024


def test_stored_rejections_are_capped_per_source_address(
    client, stripe_keys, settings, one_minute
):
    settings.WEBHOOK_REJECTIONS_PER_MINUTE = 3

    answers = [_post(client, _unsigned(500), "203.0.113.7") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [400] * 5
    assert WebhookDelivery.objects.count() == 3
    # Another address still has its own allowance; so does the same address on
    # another provider's endpoint.
    assert _post(client, _unsigned(500), "198.51.100.9").status_code == 400
    assert _post(client, _unsigned(500), "203.0.113.7", "paystack").status_code == 400
    assert WebhookDelivery.objects.count() == 5


def test_a_rejected_paystack_body_is_kept_without_the_card_authorization(
    client, paystack_fake, settings
):
    settings.PAYSTACK_SECRET_KEY = paystack_fake.secret_key
    body = json.dumps(
        {
            "event": "charge.success",
            "data": {"authorization": {"authorization_code": "AUTH_reusable"}},
        }
    ).encode()

    assert _post(client, body, provider="paystack").status_code == 400

    rejected = WebhookDelivery.objects.get()
    assert "AUTH_reusable" not in rejected.raw_body
    assert "[redacted]" in rejected.raw_body
    assert rejected.body_sha256 == hashlib.sha256(body).hexdigest()


def test_a_body_nested_too_deep_is_rejected_not_a_500(client, stripe_keys):
    body = b"[" * 100_000 + b"]" * 100_000

    assert _post(client, body, provider="paystack").status_code == 400
    assert _post(client, body).status_code == 400
    # Refused before the view (ticketing.middleware): a body no provider sends is
    # not worth even a bounded excerpt.
    assert WebhookDelivery.objects.count() == 0


def test_kept_headers_are_cut_short(client, stripe_keys):
    response = client.post(
        "/webhooks/stripe/",
        data=_unsigned(500),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=" + "f" * 20_000,
        HTTP_USER_AGENT="u" * 5_000,
        HTTP_COOKIE="session=secret",
    )

    assert response.status_code == 400
    headers = WebhookDelivery.objects.get().headers
    assert set(headers) == {"content-type", "user-agent", "stripe-signature"}
    assert len(headers["stripe-signature"]) == REJECTED_HEADER_CHARS
    assert headers["stripe-signature"].startswith("t=1,v1=fff")
    assert len(headers["user-agent"]) == REJECTED_HEADER_CHARS


def test_an_ipv6_client_is_capped_by_its_whole_64(
    client, stripe_keys, settings, one_minute
):
    """One client usually owns a /64: rotating the low bits must not buy more rows."""
    settings.WEBHOOK_REJECTIONS_PER_MINUTE = 2

    for suffix in range(1, 5):
        assert (
            _post(client, _unsigned(500), f"2001:db8:1:2::{suffix}").status_code == 400
        )
    assert WebhookDelivery.objects.count() == 2

    assert _post(client, _unsigned(500), "2001:db8:1:3::1").status_code == 400
    assert WebhookDelivery.objects.count() == 3


def test_rejected_deliveries_are_purged_after_the_retention(
    client, stripe_keys, settings
):
    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 30
    old_rejected, recent_rejected = (
        WebhookDeliveryFactory(
            event_id="", signature_valid=False, status=WebhookDelivery.Status.REJECTED
        )
        for _ in range(2)
    )
    old_verified = WebhookDeliveryFactory(
        signature_valid=True, status=WebhookDelivery.Status.PROCESSED
    )
    now = timezone.now()
    WebhookDelivery.objects.filter(pk__in=[old_rejected.pk, old_verified.pk]).update(
        received_at=now - dt.timedelta(days=31)
    )
    WebhookDelivery.objects.filter(pk=recent_rejected.pk).update(
        received_at=now - dt.timedelta(days=29)
    )

    assert webhooks_rejected_purge_task.apply().get() == 1

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {
        recent_rejected.pk,
        old_verified.pk,
    }
    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 7
    assert webhooks_rejected_purge_task.apply().get() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [
        old_verified.pk
    ]


def test_the_purges_are_scheduled_daily(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "payments.tasks.webhooks_rejected_purge",
        "integrations.tasks.platform_webhooks_rejected_purge",
    } <= tasks
