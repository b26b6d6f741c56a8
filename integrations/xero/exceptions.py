"""Domain errors of the Xero integration, each with a stable `code` and a message
for the organiser."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class XeroError(Exception):
    code = "xero_error"
    default_message = _("Xero could not be reached.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class XeroConnectError(XeroError):
    code = "xero_connect_failed"
    default_message = _("Xero could not be connected.")


class XeroNotReady(XeroError):
    """The push must wait for something else first (the parent invoice)."""

    code = "xero_not_ready"
    retryable = True
