"""Webhook deliveries: verified, stored, deduplicated, then processed.

A delivery's verified event is written once (unique provider + event id), and its
processing is enqueued once that row is committed; a broker that cannot be reached is
logged, never answered with a 500. Deduplication is on "handled", not on "stored": a
provider's retry of an event stored but not processed yet enqueues it again, and
`webhooks_retry_due` (beat, every minute) sweeps every verified row left unprocessed
for a minute, failed rows whose backoff has passed and rows whose worker was lost.
Processing claims the row with a conditional update and is idempotent, so a
re-delivery, a sweep and a task all at once still apply an event once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from bookings.models import Booking
from ticketing.audit import audit_log
from ticketing.inbound import (
    body_summary,
    headers_kept,
    rejected_before,
    rejection_may_be_stored,
)
from ticketing.lib import retry
from ticketing.sweep import claim, enqueue_on_commit

from ..accounts import webhook_verifiers
from ..models import Payment, WebhookDelivery
from ..providers import provider_class
from ..providers.base import (
    EventKind,
    PaymentProvider,
    ProviderEvent,
    ProviderRefund,
    WebhookSignatureError,
)
from .connect import connected_account_apply_event
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
# A row being processed longer than this lost its worker and is due again.
PROCESSING_LEASE = dt.timedelta(minutes=10)
# A verified row no task has processed after this is swept (its task was lost, or
# could not be enqueued).
SWEEP_AFTER = dt.timedelta(minutes=1)


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
    except (ValueError, AttributeError, RecursionError):
        return ""


def webhook_receive(
    *,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    source: str = "",
    verifiers: list[tuple[int | None, PaymentProvider]] | None = None,
) -> WebhookDelivery:
    """Store and verify one delivery, and enqueue its processing on commit.

    A delivery of an event already stored is not stored again; it is enqueued again
    unless already processed. Raises WebhookSignatureError when no key of this
    provider signed it (the view answers 400), after keeping a bounded record of it
    unless `source` (the client address) has sent too many this minute.
    `verifiers` replaces the provider's keys for an endpoint with its own secret
    (Stripe Connect's)."""
    kept = headers_kept(headers, _KEPT_HEADERS)
    if verifiers is None:
        verifiers = webhook_verifiers(provider)
    event, organiser_id = _verify(verifiers, body, headers)
    if event is None:
        _store_rejected(provider, body, kept, source)
        raise WebhookSignatureError("signature not verified")
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider,
                event_id=event.event_id,
                event_type=event.provider_type,
                organiser_id=organiser_id,
                raw_body=provider_class(provider).webhook_body_to_store(body),
                body_size=len(body),
                headers=kept,
                signature_valid=True,
                event=_event_to_json(event),
            )
    except IntegrityError:
        delivery = WebhookDelivery.objects.get(
            provider=provider, event_id=event.event_id, signature_valid=True
        )
        if delivery.processed_at is not None:
            logger.info("Duplicate %s webhook %s ignored", provider, event.event_id)
            return delivery
        logger.info(
            "%s webhook %s delivered again before it was processed: enqueued again",
            provider,
            event.event_id,
        )
    _enqueue(delivery.pk)
    return delivery


def _store_rejected(
    provider: str, body: bytes, headers: dict[str, str], source: str
) -> None:
    logger.warning("Rejected a %s webhook: no key verifies its signature", provider)
    if not rejection_may_be_stored(f"payments.{provider}", source):
        return
    try:
        text = provider_class(provider).webhook_body_to_store(body)
    except RecursionError:  # nested too deep to parse: nothing to redact in it
        text = None
    summary = body_summary(body, text)
    WebhookDelivery.objects.create(
        provider=provider,
        event_id=_claimed_event_id(body),
        raw_body=summary.excerpt,
        body_size=summary.size,
        body_sha256=summary.sha256,
        headers=headers,
        signature_valid=False,
        status=WebhookDelivery.Status.REJECTED,
    )


def webhooks_rejected_purge(now: dt.datetime | None = None) -> int:
    """Delete rejected deliveries past WEBHOOK_REJECTED_RETENTION_DAYS (beat, daily):
    kept for diagnosis only, they must not grow without end."""
    deleted, _ = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.REJECTED,
        signature_valid=False,
        received_at__lt=rejected_before(now),
    ).delete()
    if deleted:
        logger.info("Purged %d rejected webhook deliveries", deleted)
    return deleted


def _verify(
    verifiers: list[tuple[int | None, PaymentProvider]],
    body: bytes,
    headers: dict[str, str],
) -> tuple[ProviderEvent | None, int | None]:
    """The event and the organiser whose key signed it (None: the project's key)."""
    for organiser_id, client in verifiers:
        try:
            return client.parse_webhook(body, headers), organiser_id
        except WebhookSignatureError:
            continue
    return None, None


def _enqueue(delivery_id: int) -> None:
    from ..tasks import webhook_process_task

    enqueue_on_commit(webhook_process_task, delivery_id)


def _claimable(now: dt.datetime) -> Q:
    """Rows a task may take at once: new, failed (a re-delivery or the sweep need not
    wait for the backoff), or processing past their lease."""
    return Q(
        status__in=[WebhookDelivery.Status.RECEIVED, WebhookDelivery.Status.FAILED]
    ) | _lease_lapsed(now)


def _lease_lapsed(now: dt.datetime) -> Q:
    # (Rows claimed before leases existed have none: their receipt dates them.)
    return Q(status=WebhookDelivery.Status.PROCESSING) & (
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, received_at__lte=now - PROCESSING_LEASE)
    )


def _lease(now: dt.datetime) -> dict:
    return {
        "status": WebhookDelivery.Status.PROCESSING,
        "attempts": F("attempts") + 1,
        "next_attempt_at": now + PROCESSING_LEASE,
    }


def webhook_process(*, delivery_id: int) -> bool:
    """Apply a stored event once. Returns False when another worker holds it or it is
    already processed."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        _claimable(now), signature_valid=True, pk=delivery_id
    ).update(**_lease(now))
    if not claimed:
        return False
    return _run(delivery_id)


def _run(delivery_id: int) -> bool:
    """Process a row this worker has claimed; it ends PROCESSED or FAILED."""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    try:
        organiser_id = _apply(delivery.provider, _event_from_json(delivery.event))
    except Exception as error:  # kept for retry and shown in admin, whatever it was
        logger.exception("Webhook delivery %s failed", delivery_id)
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.FAILED,
            last_error=repr(error)[:2000],
            next_attempt_at=retry.PAYMENT_WEBHOOKS.next_attempt_at(
                delivery.attempts, now=timezone.now()
            ),
        )
        return False
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.PROCESSED,
        processed_at=timezone.now(),
        next_attempt_at=None,
        last_error="",
        organiser_id=organiser_id or delivery.organiser_id,
    )
    return True


def _apply(provider: str, event: ProviderEvent) -> int | None:
    """Act on one event; returns the organiser it concerned, when known."""
    if event.kind == EventKind.ACCOUNT_UPDATED:
        return connected_account_apply_event(event)
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


def _due(now: dt.datetime) -> Q:
    """Verified rows the sweep takes: left unprocessed for SWEEP_AFTER, failed ones
    whose backoff has passed, and ones whose worker was lost."""
    return Q(signature_valid=True, processed_at__isnull=True) & (
        Q(status=WebhookDelivery.Status.RECEIVED, received_at__lte=now - SWEEP_AFTER)
        | Q(status=WebhookDelivery.Status.FAILED, next_attempt_at__lte=now)
        | _lease_lapsed(now)
    )


def webhooks_retry_due(*, now: dt.datetime | None = None, limit: int = 100) -> int:
    """The sweep (Celery beat, every minute): claim due rows, skipping those another
    sweep holds, and process each. Returns how many were processed."""
    now = now or timezone.now()
    lease = _lease(timezone.now())
    ids = claim(
        WebhookDelivery.objects.filter(_due(now)),
        limit=limit,
        order_by=("received_at", "pk"),
        **lease,
    )
    processed = 0
    for pk in ids:
        # Renew the lease just before the work: a row whose lease ran out while the
        # batch was slow has been taken by the next sweep, and is left to it.
        renewed = WebhookDelivery.objects.filter(
            pk=pk,
            status=WebhookDelivery.Status.PROCESSING,
            next_attempt_at=lease["next_attempt_at"],
        ).update(next_attempt_at=timezone.now() + PROCESSING_LEASE)
        if renewed:
            processed += _run(pk)
    return processed


def webhooks_oldest_due(now: dt.datetime) -> dt.datetime | None:
    """Since when the longest-waiting verified delivery has been due (None: none is):
    the health check's measure of a backlog that is not moving."""
    pending = WebhookDelivery.objects.filter(
        signature_valid=True, processed_at__isnull=True
    )
    received = pending.filter(status=WebhookDelivery.Status.RECEIVED).aggregate(
        oldest=Min("received_at")
    )["oldest"]
    retrying = pending.filter(
        status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PROCESSING],
        next_attempt_at__lte=now,
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return min((value for value in (received, retrying) if value), default=None)
