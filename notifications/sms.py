"""Sending SMS: one small interface and a backend per provider, chosen by
`settings.SMS_BACKEND` (a dotted path), in the manner of Django's email backends.

- `TwilioBackend`: Twilio's REST API through the official SDK, with explicit timeouts.
- `ConsoleBackend`: logs the message; nothing is delivered (no provider configured).
- `LocmemBackend`: keeps messages in `notifications.sms.outbox`, for tests.

Backends never touch the ORM and never retry: the caller's task does.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from ticketing.lib.http_errors import (
    ExternalError,
    ExternalRejected,
    ExternalUnavailable,
)
from ticketing.lib.retry import is_retryable_status

logger = logging.getLogger(__name__)

# (connect, read) seconds for each call to the provider.
TWILIO_TIMEOUT = (3.05, 15)


# The shared failure classes (status, `retryable`), named for SMS so that callers
# and stored errors ("SmsUnavailable: ...") say what failed.
class SmsError(ExternalError):
    """Sending failed; `retryable` says whether trying later may help."""


class SmsUnavailable(SmsError, ExternalUnavailable):
    """Network error, timeout, 429 or 5xx: try again later."""


class SmsRejected(SmsError, ExternalRejected):
    """The provider refused this message (4xx: bad number, bad credentials...):
    sending it again as is will fail again."""


class SmsNotConfigured(SmsError):
    """The backend lacks its credentials: nothing can be sent until they are set."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    to: str
    body: str
    status_callback: str | None
    message_id: str


# LocmemBackend appends every message here (tests empty it between tests).
outbox: list[SmsMessage] = []


class BaseSmsBackend:
    """One SMS per `send()` call.

    `delivers` is False for backends that only pretend (console): the caller records
    such messages as skipped rather than sent.
    """

    delivers = True

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Send `body` to `to` (E.164) and return the provider's message id.

        `status_callback` is a public URL the provider POSTs delivery updates to.
        Not idempotent: a call that raised SmsUnavailable after a timeout may still
        have sent the message. Raises SmsUnavailable (retryable), SmsRejected or
        SmsNotConfigured.
        """
        raise NotImplementedError


class ConsoleBackend(BaseSmsBackend):
    delivers = False

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("SMS not sent (no provider) to %s: %s", to, body)
        return message_id


class LocmemBackend(BaseSmsBackend):
    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        message_id = f"locmem-{uuid.uuid4().hex}"
        outbox.append(SmsMessage(to, body, status_callback, message_id))
        return message_id


class TwilioBackend(BaseSmsBackend):
    """Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{sid}/Messages.json`
    with To, From, Body and StatusCallback; returns the message SID (`SM...`)."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_number: str | None = None,
    ) -> None:
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.from_number = from_number or settings.TWILIO_FROM_NUMBER
        if not (self.account_sid and self.auth_token and self.from_number):
            raise SmsNotConfigured(
                "Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER."
            )

    def _client(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http_client = TwilioHttpClient()
        # The constructor only accepts one number; requests takes (connect, read)
        # from this attribute, which the client passes on as is.
        http_client.timeout = TWILIO_TIMEOUT
        return Client(self.account_sid, self.auth_token, http_client=http_client)

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        from twilio.base.exceptions import TwilioRestException, TwilioServiceException

        kwargs = {"to": to, "from_": self.from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self._client().messages.create(**kwargs)
        except (TwilioRestException, TwilioServiceException) as error:
            raise _error_for_status(
                error.status, f"Twilio answered {error.status} (code {error.code})"
            ) from error
        except requests.RequestException as error:
            raise SmsUnavailable(
                f"Twilio unreachable: {type(error).__name__}"
            ) from error
        return message.sid


def _error_for_status(status: int | None, message: str) -> SmsError:
    if is_retryable_status(status):
        return SmsUnavailable(message, status=status)
    return SmsRejected(message, status=status)


def get_sms_backend(path: str | None = None, **kwargs) -> BaseSmsBackend:
    """An instance of `path` or `settings.SMS_BACKEND`. Raises SmsNotConfigured
    when the backend lacks credentials. A path under `ticketing.sms.`, where the
    backends lived before notifications became an app, still works."""
    path = path or settings.SMS_BACKEND
    if path.startswith(_OLD_MODULE):
        path = __name__ + path.removeprefix(_OLD_MODULE[:-1])
    return import_string(path)(**kwargs)


_OLD_MODULE = "ticketing.sms."
