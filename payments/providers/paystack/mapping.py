"""Reading Paystack's data into ours: its transaction and refund statuses, and the
field readers that turn a missing or mistyped field into ProviderUnavailable (never
KeyError), amounts given as ints or digit strings, and the redaction of
`authorization_code`. Apart because payments, refunds and webhooks all read
Paystack's objects the same way.
"""

from __future__ import annotations

import re
from typing import Any

from ..base import PaymentState, ProviderUnavailable

# Paystack transaction status -> ours. "abandoned" is PENDING, not CANCELED: Paystack
# marks a transaction abandoned as soon as the buyer leaves (or has not yet finished)
# the checkout page, and the buyer can still come back and pay it on the same page
# until it expires. Our own hold expiry is what cancels an attempt
# (`cancel_payment`), and a late "success" must still be recognised.
_PAYMENT_STATES = {
    "success": PaymentState.SUCCEEDED,
    "failed": PaymentState.FAILED,
    "reversed": PaymentState.FAILED,
    "abandoned": PaymentState.PENDING,
    "ongoing": PaymentState.PENDING,
    "pending": PaymentState.PENDING,
    "processing": PaymentState.PENDING,
    "queued": PaymentState.PENDING,
}
_REFUND_STATES = {"processed": "succeeded", "failed": "failed"}  # else pending
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


def _str_field(data: dict[str, Any], name: str, action: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderUnavailable(f"Paystack {action}: the answer lacks `{name}`.")
    return value


def _int_field(data: dict[str, Any], name: str, action: str) -> int:
    value = _optional_int(data.get(name))
    if value is None:
        raise ProviderUnavailable(
            f"Paystack {action}: `{name}` is missing or not an integer."
        )
    return value


def _currency_field(data: dict[str, Any], action: str) -> str:
    value = data.get("currency")
    if not isinstance(value, str) or not _CURRENCY_RE.match(value):
        raise ProviderUnavailable(f"Paystack {action}: `currency` is missing.")
    return value.upper()


def _optional_int(value: Any) -> int | None:
    """An integer amount, from an int or a digit string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _redacted(value: Any) -> Any:
    """A copy without `authorization_code` (a reusable token to charge the card)."""
    if isinstance(value, dict):
        return {
            key: ("[redacted]" if key == "authorization_code" else _redacted(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value
