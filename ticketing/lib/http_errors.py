"""The typed failures of calls to external services (see `ticketing.lib.http`, which
re-exports them)."""

from __future__ import annotations


class ExternalError(Exception):
    """A call to an external service failed; `retryable` says whether later may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ExternalUnavailable(ExternalError):
    """Network error, timeout, 429 or 5xx, or the circuit is open: try again later."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ExternalTimeout(ExternalUnavailable):
    """No answer within the timeout: the request may still have been acted on."""


class CircuitOpen(ExternalUnavailable):
    """The breaker is open: no call was made."""


class ExternalRejected(ExternalError):
    """The service refused the request (a 4xx other than auth): do not retry as is."""


class ExternalAuthError(ExternalRejected):
    """401/403: the credentials are wrong, revoked or lack rights."""


class MalformedResponse(ExternalError):
    """The body was not what the service documents (bad JSON, missing fields)."""
