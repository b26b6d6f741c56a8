"""Sentry, through the real sentry-sdk and its Django integration: an error in a
request whose body and locals hold a buyer's email reaches Sentry without either."""

from __future__ import annotations

import pytest
import sentry_sdk
from django.test import Client
from django.urls import path
from sentry_sdk.transport import Transport

from ticketing import sentry

# Built, so that the source lines Sentry sends around a frame do not hold it.
BUYER = "@".join(["buyer.name", "example.org"])


def _failing_checkout(request):
    buyer_email = request.POST["email"]  # noqa: F841 - a local Sentry must not send
    raise RuntimeError("checkout broke")


urlpatterns = [path("sentry-test/", _failing_checkout)]


class _Recorded(Transport):
    """Keeps the envelopes the SDK would have sent."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def recorded(monkeypatch):
    transport = _Recorded()
    real_init = sentry_sdk.init

    def init_recording(*args, **options):
        return real_init(*args, transport=transport, **options)

    monkeypatch.setattr(sentry_sdk, "init", init_recording)
    sentry.init(
        "https://public@sentry.invalid/1",
        environment="test",
        release="",
        traces_sample_rate=0.0,
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.mark.django_db
def test_an_error_reaches_sentry_without_the_request_body_or_local_variables(
    recorded, settings
):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client(raise_request_exception=False)

    response = client.post(
        "/sentry-test/",
        {"email": BUYER, "name": "Ada Buyer"},
        HTTP_AUTHORIZATION="Bearer tk_secret",
    )

    assert response.status_code == 500
    [event] = recorded.events
    assert event["exception"]["values"][-1]["value"] == "checkout broke"
    # The body is left out by configuration (the test client has no WSGI
    # environ, so the request holds nothing else here).
    assert not event["request"].get("data")
    assert event["_meta"]["request"]["data"][""]["rem"] == [["!config", "x"]]
    frames = [
        frame
        for value in event["exception"]["values"]
        for frame in value["stacktrace"]["frames"]
    ]
    assert any(frame["function"] == "_failing_checkout" for frame in frames)
    assert not any("vars" in frame for frame in frames)
    assert "user" not in event  # and so no IP address either
    assert "REMOTE_ADDR" not in repr(event["request"])
    text = repr(event)
    assert BUYER not in text
    assert "Ada Buyer" not in text
    assert "tk_secret" not in text
