"""Every write to payments. Provider calls never happen inside a transaction or a lock:
state is read, the provider is called, then the result is written in a short
transaction that re-checks what it changes."""

from .offline import (
    offline_instructions,
    offline_payment_enable,
    payment_offline_choose,
    payment_offline_mark_paid,
)
from .refunds import (
    refund_apply_provider_state,
    refund_issue,
    refund_retry_unconfirmed,
)
from .settle import payment_record_state, payment_settle, payment_settle_reference
from .start import payment_cancel_open, payment_start
from .webhooks import (
    webhook_process,
    webhook_receive,
    webhooks_rejected_purge,
    webhooks_retry_due,
)

__all__ = [
    "offline_instructions",
    "offline_payment_enable",
    "payment_offline_choose",
    "payment_offline_mark_paid",
    "payment_record_state",
    "payment_cancel_open",
    "payment_settle",
    "payment_settle_reference",
    "payment_start",
    "refund_apply_provider_state",
    "refund_issue",
    "refund_retry_unconfirmed",
    "webhook_process",
    "webhook_receive",
    "webhooks_rejected_purge",
    "webhooks_retry_due",
]
