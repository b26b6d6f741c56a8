"""Delivery status can be reported only by the provider that sends, authenticated.

Email: only `/anymail/<sending esp>/tracking/` is mounted; every other anymail URL is
a 404; junk gets a 4xx, never a 500; without ANYMAIL["WEBHOOK_SECRET"] and with DEBUG
off, nobody can report (the settings refuse to start that way, see
test_security_settings). SMS: Twilio's callback needs Twilio's signature, made with
an auth token we have (test_notifications covers forged and tampered signatures).
"""

from __future__ import annotations

import base64
import json

import pytest
from twilio.request_validator import RequestValidator

from bookings.tests.helpers import hold
from notifications.models import Notification

pytestmark = pytest.mark.django_db

BREVO_ID = "<202501011200.12345678901@smtp-relay.mailin.fr>"
SECRET = "hook:s3cret"
TRACKING = "/anymail/brevo/tracking/"


@pytest.fixture
def brevo(settings):
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    settings.ANYMAIL = {"BREVO_API_KEY": "xkeysib-test", "WEBHOOK_SECRET": SECRET}


@pytest.fixture
def sent(session, ticket_type):
    booking = hold(session, (ticket_type, 1))
    return Notification.objects.create(
        booking=booking,
        organiser=booking.organiser,
        channel=Notification.Channel.EMAIL,
        template="payment_failed",
        recipient="ada@example.org",
        status=Notification.Status.SENT,
        attempts=1,
        provider_message_id=BREVO_ID,
    )


def _bounce() -> dict:
    return {
        "event": "hard_bounce",
        "email": "ada@example.org",
        "id": 1,
        "date": "2025-01-01 12:00:05",
        "ts_epoch": 1735732805000,
        "message-id": BREVO_ID,
        "reason": "550 no such user",
    }


def _post(client, path, body, auth=None, content_type="application/json"):
    headers = {}
    if auth is not None:
        token = base64.b64encode(auth.encode()).decode()
        headers["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client.post(path, data=body, content_type=content_type, **headers)


def _unchanged(row: Notification) -> bool:
    row.refresh_from_db()
    return row.status == Notification.Status.SENT


@pytest.mark.parametrize(
    "path",
    [
        "/anymail/mailgun/tracking/",
        "/anymail/sendgrid/tracking/",
        "/anymail/postmark/tracking/",
        "/anymail/sendinblue/tracking/",
        "/anymail/brevo/inbound/",
        "/anymail/mailgun/inbound/",
        "/anymail/mandrill/",
        "/anymail/nosuchesp/tracking/",
    ],
)
def test_only_the_sending_esps_tracking_url_exists(client, brevo, path):
    response = _post(client, path, "junk", auth=SECRET, content_type="text/plain")

    assert response.status_code == 404


def test_a_bounce_with_the_secret_is_recorded(client, brevo, sent):
    response = _post(client, TRACKING, json.dumps(_bounce()), auth=SECRET)

    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.status == Notification.Status.BOUNCED


@pytest.mark.parametrize("auth", [None, "hook:wrong", "nobody:s3cret"])
def test_a_forged_bounce_is_refused(client, brevo, sent, auth):
    response = _post(client, TRACKING, json.dumps(_bounce()), auth=auth)

    assert response.status_code == 400
    assert _unchanged(sent)


JUNK = [
    ("junk", "text/plain"),
    ("{not json", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ('{"event": {"nested": [1]}, "message-id": 7}', "application/json"),
    ("\x00\x01\x02", "application/octet-stream"),
]


@pytest.mark.parametrize(("body", "content_type"), JUNK)
@pytest.mark.parametrize("auth", [None, SECRET])
def test_junk_gets_a_400_never_a_500(client, brevo, sent, body, content_type, auth):
    client.raise_request_exception = False

    response = _post(client, TRACKING, body, auth=auth, content_type=content_type)

    assert response.status_code == 400
    assert _unchanged(sent)


def test_an_authenticated_event_of_no_known_kind_changes_nothing(client, brevo, sent):
    response = _post(client, TRACKING, '{"event": null}', auth=SECRET)

    assert response.status_code == 200
    assert _unchanged(sent)


def test_without_a_secret_nobody_reports_in_production(client, settings, sent):
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    settings.ANYMAIL = {"BREVO_API_KEY": "xkeysib-test", "WEBHOOK_SECRET": None}
    settings.DEBUG = False

    response = _post(client, TRACKING, json.dumps(_bounce()))

    assert response.status_code == 403
    assert _unchanged(sent)


def test_tracking_turned_off_unmounts_the_url(client, brevo, settings, sent):
    settings.EMAIL_TRACKING = False

    response = _post(client, TRACKING, json.dumps(_bounce()), auth=SECRET)

    assert response.status_code == 404
    assert _unchanged(sent)


def test_no_esp_no_tracking_url(client, settings, sent):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}

    response = _post(client, TRACKING, json.dumps(_bounce()), auth=SECRET)

    assert response.status_code == 404
    assert _unchanged(sent)


@pytest.mark.parametrize("debug", [False, True])
def test_twilio_status_without_an_auth_token_is_refused(
    client, settings, session, ticket_type, debug
):
    """With no TWILIO_AUTH_TOKEN, a signature made with an empty key must not pass."""
    settings.DEBUG = debug
    settings.TWILIO_AUTH_TOKEN = ""
    settings.SITE_URL = "https://tickets.example"
    booking = hold(session, (ticket_type, 1))
    row = Notification.objects.create(
        booking=booking,
        organiser=booking.organiser,
        channel=Notification.Channel.SMS,
        template="payment_failed",
        recipient="+33612345678",
        status=Notification.Status.SENT,
        attempts=1,
        provider_message_id="SM123",
    )
    path = f"/webhooks/twilio/status/?notification={row.pk}"
    params = {"MessageSid": "SM123", "MessageStatus": "failed", "ErrorCode": "30005"}
    signature = RequestValidator("").compute_signature(settings.SITE_URL + path, params)

    response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 403
    assert _unchanged(row)
