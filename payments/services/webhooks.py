"""Webhook deliveries: stored first, verified, deduplicated, then processed.

A delivery's verified event is written once (unique provider + event id), so a
provider retrying, or sending the same event ten times at once, changes nothing the
second time. Processing reads the stored event, claims the row with a conditional
update, and on failure leaves it for `webhooks_retry_due` with a growing delay.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from bookings.models import Booking
from ticketing.audit import audit_log

from ..accounts import webhook_verifiers
from ..models import Payment, WebhookDelivery
from ..providers import provider_class
from ..providers.base import (
    EventKind,
    ProviderEvent,
    ProviderRefund,
    WebhookSignatureError,
)
from .refunds import refund_apply_provider_state
from .settle import payment_settle

logger = logging.getLogger(__name__)

# Headers worth keeping with a delivery (never Authorization or cookies).
_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "stripe-signature",
    "x-paystack-signature",
)
_STUCK_AFTER = dt.timedelta(minutes=10)
_MAX_BACKOFF = dt.timedelta(hours=6)


def _event_to_json(event: ProviderEvent) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(event), default=str))


def _event_from_json(data: dict) -> ProviderEvent:
    refund = ProviderRefund(**data["refund"]) if data.get("refund") else None
    occurred = data.get("occurred_at")
    return ProviderEvent(
        **{
            **data,
            "refund": refund,
            "occurred_at": dt.datetime.fromisoformat(occurred) if occurred else None,
        }
    )


def _claimed_event_id(body: bytes) -> str:
    try:
        payload = json.loads(body)
        return str(payload.get("id") or payload.get("event") or "")[:200]
    except (ValueError, AttributeError):
        return ""


def webhook_receive(
    *, provider: str, body: bytes, headers: dict[str, str]
) -> WebhookDelivery:
    """Store and verify one delivery. Raises WebhookSignatureError (after storing the
    rejected delivery) when no key of this provider signed it; the view answers 400."""
    kept = {
        name: value
        for name, value in ((name.lower(), value) for name, value in headers.items())
        if name in _KEPT_HEADERS
    }
    raw = provider_class(provider).webhook_body_to_store(body)
    event, organiser_id = _verify(provider, body, headers)
    if event is None:
        WebhookDelivery.objects.create(
            provider=provider,
            event_id=_claimed_event_id(body),
            raw_body=raw,
            headers=kept,
            signature_valid=False,
            status=WebhookDelivery.Status.REJECTED,
        )
        logger.warning("Rejected a %s webhook: no key verifies its signature", provider)
        raise WebhookSignatureError("signature not verified")
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider,
                event_id=event.event_id,
                event_type=event.provider_type,
                organiser_id=organiser_id,
                raw_body=raw,
                headers=kept,
                signature_valid=True,
                event=_event_to_json(event),
            )
            transaction.on_commit(lambda: _enqueue(delivery.pk))
    except IntegrityError:
        logger.info("Duplicate %s webhook %s ignored", provider, event.event_id)
        return WebhookDelivery.objects.get(
            provider=provider, event_id=event.event_id, signature_valid=True
        )
    return delivery


def _verify(
    provider: str, body: bytes, headers: dict[str, str]
) -> tuple[ProviderEvent | None, int | None]:
    """The event and the organiser whose key signed it (None: the project's key)."""
    for organiser_id, client in webhook_verifiers(provider):
        try:
            return client.parse_webhook(body, headers), organiser_id
        except WebhookSignatureError:
            continue
    return None, None


def _enqueue(delivery_id: int) -> None:
    from ..tasks import webhook_process_task

    webhook_process_task.delay(delivery_id)


def webhook_process(*, delivery_id: int) -> bool:
    """Apply a stored event once. Returns False when another worker holds it or it is
    already processed."""
    claimable = Q(
        status__in=[WebhookDelivery.Status.RECEIVED, WebhookDelivery.Status.FAILED]
    ) | Q(
        status=WebhookDelivery.Status.PROCESSING,
        received_at__lt=timezone.now() - _STUCK_AFTER,
    )
    claimed = WebhookDelivery.objects.filter(claimable, pk=delivery_id).update(
        status=WebhookDelivery.Status.PROCESSING, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    try:
        organiser_id = _apply(delivery.provider, _event_from_json(delivery.event))
    except Exception as error:  # kept for retry and shown in admin, whatever it was
        logger.exception("Webhook delivery %s failed", delivery_id)
        backoff = min(_MAX_BACKOFF, dt.timedelta(minutes=2**delivery.attempts))
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.FAILED,
            last_error=repr(error)[:2000],
            next_attempt_at=timezone.now() + backoff * random.uniform(0.8, 1.2),
        )
        return False
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.PROCESSED,
        processed_at=timezone.now(),
        last_error="",
        organiser_id=organiser_id or delivery.organiser_id,
    )
    return True


def _apply(provider: str, event: ProviderEvent) -> int | None:
    """Act on one event; returns the organiser it concerned, when known."""
    reference = (
        event.refund.provider_reference
        if event.refund is not None
        else event.provider_reference
    )
    payment = Payment.objects.filter(
        provider=provider, provider_reference=reference
    ).first()
    if payment is None:
        if event.kind != EventKind.IGNORED:
            logger.warning(
                "%s event %s names no payment of ours", provider, event.event_id
            )
        return None
    if event.kind in (
        EventKind.PAYMENT_SUCCEEDED,
        EventKind.PAYMENT_FAILED,
        EventKind.PAYMENT_CANCELED,
    ):
        # Whatever the event says, the provider is asked again before anything moves.
        payment_settle(payment_id=payment.pk, source="webhook")
    elif event.kind == EventKind.REFUND_UPDATED and event.refund is not None:
        refund_apply_provider_state(
            refund_id=None, result=event.refund, payment_id=payment.pk
        )
    elif event.kind == EventKind.DISPUTE_OPENED:
        Booking.objects.filter(pk=payment.booking_id).update(needs_attention=True)
        audit_log(
            action="payments.dispute.opened",
            obj=payment,
            organiser_id=payment.organiser_id,
            actor=provider,
            data={"event": event.event_id},
        )
    return payment.organiser_id


def webhooks_retry_due(*, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Process failed deliveries whose delay has passed, and stuck ones."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        Q(status=WebhookDelivery.Status.FAILED, next_attempt_at__lte=now)
        | Q(
            status=WebhookDelivery.Status.PROCESSING, received_at__lt=now - _STUCK_AFTER
        )
        | Q(status=WebhookDelivery.Status.RECEIVED, received_at__lt=now - _STUCK_AFTER)
    ).values_list("pk", flat=True)[:limit]
    return sum(webhook_process(delivery_id=pk) for pk in due)
