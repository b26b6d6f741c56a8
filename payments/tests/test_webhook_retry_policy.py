"""A payment webhook whose processing fails waits per the one retry policy
(ticketing.lib.retry.PAYMENT_WEBHOOKS): 2 minutes, then 4, ... capped at 6 hours,
shortened by jitter, never given up."""

import datetime as dt

import pytest
from django.utils import timezone

from payments.models import WebhookDelivery
from payments.services import webhooks
from payments.tests.factories import WebhookDeliveryFactory


@pytest.mark.django_db
def test_failed_processing_backs_off_per_the_policy_and_never_gives_up(monkeypatch):
    def broken(provider, event):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(webhooks, "_apply", broken)
    delivery = WebhookDeliveryFactory(
        event={"event_id": "evt_1", "kind": "ignored", "provider_type": "x"}
    )
    waits = []
    for _ in range(10):
        before = timezone.now()
        webhooks.webhook_process(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.FAILED
        assert delivery.last_error == "RuntimeError('database hiccup')"
        waits.append((delivery.next_attempt_at - before).total_seconds())

    full = [min(120 * 2**n, 6 * 3600) for n in range(10)]
    for wait, ceiling in zip(waits, full, strict=True):
        assert 0.8 * ceiling - 1 <= wait <= ceiling + 1
    assert delivery.attempts == 10
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(hours=4)
