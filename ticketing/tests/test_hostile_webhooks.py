"""Webhook bodies PostgreSQL cannot store are refused before the view stores them
(issue 16 item 6): a 400, and no delivery row. (Platform webhooks keep refused
bodies, NUL replaced: integrations/tests/test_webhooks.py.)"""

import pytest

from payments.models import WebhookDelivery

pytestmark = pytest.mark.django_db

BODIES = [
    ("application/json", b'{"id": "evt_1", "type": "x\x00"}'),
    ("application/json", b'{"id": "evt_1", "data": "\\u0000"}'),
    ("application/json", b'{"id": "evt_1", "\\u0000": 1}'),
    ("application/json", b'{"id": "evt_1", "data": "\\udfff"}'),
    ("application/json", b"[" * 50_000 + b"]" * 50_000),
    ("text/plain", b'{"a":' * 5_000 + b"1" + b"}" * 5_000),
    ("application/json", b"{not json"),
    ("text/plain", b"x\x00y"),
]
IDS = ["raw-nul", "escaped-nul", "nul-key", "surrogate", "deep", "deep-as-text",
       "not-json", "raw-nul-text"]  # fmt: skip


@pytest.mark.parametrize(("content_type", "body"), BODIES, ids=IDS)
@pytest.mark.parametrize("path", ["/webhooks/stripe/", "/webhooks/paystack/"])
def test_payment_webhooks_refuse_unstorable_bodies(client, path, content_type, body):
    response = client.post(
        path,
        body,
        content_type=content_type,
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
        HTTP_X_PAYSTACK_SIGNATURE="00",
    )

    assert response.status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_form_encoded_status_callback_with_nul_is_refused(client):
    response = client.post(
        "/webhooks/twilio/status/",
        b"MessageSid=SM1&MessageStatus=deliv%00ered",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert b"NUL" in response.content


def test_an_ordinary_json_webhook_still_reaches_the_view(client):
    response = client.post(
        "/webhooks/stripe/", b'{"id": "evt_1", "type": "ping", "data": {"a": [1]}}',
        content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=00",
    )  # fmt: skip

    # The view answers (its signature check refuses it), not the guard.
    assert response.status_code == 400
    assert not response.content.startswith(b"The request body")
