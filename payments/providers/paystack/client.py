"""The HTTP half of `PaystackProvider`: the shared `ExternalApi` client built per
call with the organiser's key, and `_call`, which sends one request and turns
Paystack's envelope and status codes into `data` or a typed ProviderError. Apart
so that the provider module reads as the payment flow, not as transport; a mixin
(it needs the provider's `credentials`) so the code moved unchanged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ticketing.lib.http import (
    CircuitOpen,
    ExternalApi,
    ExternalTimeout,
    ExternalUnavailable,
)
from ticketing.lib.retry import is_retryable_status, retry_after_seconds

from ..base import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)

SERVICE = "paystack"  # the shared HTTP client's breaker and log name


class PaystackClient:
    """Mixin of `PaystackProvider`: requests to api.paystack.co with
    `self.credentials.secret_key`."""

    def _api(self) -> ExternalApi:
        # Built per call (it is cheap) so that the settings in force are used.
        return ExternalApi(
            service=SERVICE,
            base_url=settings.PAYSTACK_API_BASE,
            rate_key="",
            rate_limit=None,
            headers={
                "Authorization": f"Bearer {self.credentials.secret_key}",
                "Accept": "application/json",
                "User-Agent": "ticketing-payments/1 (+paystack)",
            },
            timeout=tuple(settings.PAYMENT_HTTP_TIMEOUT),
            retries=0,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json_body: dict[str, Any] | None = None,
        unreadable: type[ProviderError] = ProviderUnavailable,
    ) -> dict[str, Any]:
        """One request; returns the envelope's `data` object or raises.

        `unreadable` is what a 2xx answer that is not the envelope raises:
        ProviderUnavailable (retry is safe) unless the call is not idempotent."""
        try:
            response = self._api().send(method, path, json=json_body)
        except CircuitOpen:
            raise
        except ExternalTimeout as error:
            raise ProviderUnavailable(f"Paystack {action}: timed out.") from error
        except ExternalUnavailable as error:
            raise ProviderUnavailable(
                f"Paystack {action}: network error ({error})."
            ) from error
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = ""
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            message = payload["message"][:300]
        detail = f"Paystack {action}: HTTP {status}" + (
            f": {message}" if message else ""
        )

        if is_retryable_status(status):
            raise ProviderUnavailable(
                detail,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise ProviderAuthError(detail, status=status)
        if not 200 <= status < 300:
            raise ProviderRejected(detail, status=status)
        if not isinstance(payload, dict) or not isinstance(payload.get("status"), bool):
            raise unreadable(
                f"Paystack {action}: HTTP {status} with a body that is not the JSON "
                "envelope.",
                status=status,
            )
        if payload["status"] is not True:
            raise ProviderRejected(detail, status=status)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise unreadable(
                f"Paystack {action}: the answer has no `data` object.", status=status
            )
        return data
