"""SMS backends (ticketing/sms.py): Twilio through its SDK against `responses`."""

from urllib.parse import parse_qs

import pytest
import requests
import responses

from notifications import sms

SID = "AC00000000000000000000000000000001"
TOKEN = "test-auth-token"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
CALLBACK = "https://tickets.example.org/webhooks/twilio/status/?notification=7"


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.SMS_BACKEND = "notifications.sms.TwilioBackend"
    return sms.get_sms_backend()


def _form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


@responses.activate
def test_twilio_posts_the_message_and_returns_its_sid(twilio):
    responses.post(
        MESSAGES_URL,
        status=201,
        json={"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"},
    )
    message_id = twilio.send("+33612345678", "Booking ABC confirmed", CALLBACK)
    assert message_id == "SM0123456789abcdef0123456789abcdef"
    assert len(responses.calls) == 1
    call = responses.calls[0]
    assert _form(call) == {
        "To": ["+33612345678"],
        "From": ["+15005550006"],
        "Body": ["Booking ABC confirmed"],
        "StatusCallback": [CALLBACK],
    }
    assert call.request.headers["Authorization"].startswith("Basic ")
    # An explicit (connect, read) timeout reaches requests.
    assert call.request.req_kwargs["timeout"] == sms.TWILIO_TIMEOUT


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 503])
def test_twilio_busy_or_down_is_retryable(twilio, status):
    responses.post(
        MESSAGES_URL, status=status, json={"code": 20429, "message": "Too many"}
    )
    with pytest.raises(sms.SmsUnavailable) as raised:
        twilio.send("+33612345678", "Hello")
    assert raised.value.status == status
    assert raised.value.retryable is True


@responses.activate
def test_twilio_refusal_is_permanent(twilio):
    responses.post(
        MESSAGES_URL,
        status=400,
        json={
            "code": 21211,
            "message": "The 'To' number +33 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    with pytest.raises(sms.SmsRejected) as raised:
        twilio.send("+33", "Hello")
    assert raised.value.status == 400
    assert raised.value.retryable is False
    # The message names the code, not the number.
    assert str(raised.value) == "Twilio answered 400 (code 21211)"


@responses.activate
def test_twilio_unreachable_is_retryable(twilio):
    responses.post(MESSAGES_URL, body=requests.ConnectTimeout("timed out"))
    with pytest.raises(sms.SmsUnavailable):
        twilio.send("+33612345678", "Hello")


def test_twilio_without_credentials_is_not_configured(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(sms.SmsNotConfigured):
        sms.get_sms_backend("notifications.sms.TwilioBackend")


def test_locmem_keeps_messages(monkeypatch):
    monkeypatch.setattr(sms, "outbox", [])
    backend = sms.get_sms_backend("notifications.sms.LocmemBackend")
    message_id = backend.send("+33612345678", "Hello", status_callback=CALLBACK)
    assert backend.delivers is True
    assert sms.outbox == [sms.SmsMessage("+33612345678", "Hello", CALLBACK, message_id)]


def test_console_logs_and_does_not_deliver(caplog):
    backend = sms.get_sms_backend("notifications.sms.ConsoleBackend")
    with caplog.at_level("INFO", logger="notifications.sms"):
        message_id = backend.send("+33612345678", "Hello")
    assert message_id.startswith("console-")
    assert backend.delivers is False
    assert "Hello" in caplog.text


def test_default_backend_follows_settings(settings):
    settings.SMS_BACKEND = "notifications.sms.ConsoleBackend"
    assert isinstance(sms.get_sms_backend(), sms.ConsoleBackend)


def test_a_backend_path_from_before_the_move_still_works(settings):
    settings.SMS_BACKEND = "ticketing.sms.ConsoleBackend"

    assert isinstance(sms.get_sms_backend(), sms.ConsoleBackend)
