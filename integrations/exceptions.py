"""Domain errors of platform syncs, each with a stable `code`."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class SyncError(Exception):
    code = "sync_error"
    default_message = _("The sync could not run.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class SyncAlreadyRunning(SyncError):
    code = "sync_running"
    default_message = _("A sync of this connection is already running.")


class ConnectionNotReady(SyncError):
    code = "connection_not_ready"
    default_message = _("This connection is disabled or has no credentials.")
