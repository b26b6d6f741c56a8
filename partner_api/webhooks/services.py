"""Queueing, signing and posting partner webhook deliveries.

A delivery row and its outbox row (kind `partner_api.webhook_delivery`) are written
per matching endpoint in the transaction of the change that causes the event, so a
crash after the commit loses nothing and a rolled-back change posts nothing. The
outbox hands the row to `delivery_send`, which claims it with a conditional UPDATE
(so two runs post once), signs the body and posts it without following redirects; a
failure sets `next_attempt_at` per the one retry policy (`RETRY_POLICY`) and the
outbox dispatches it again then, up to `MAX_ATTEMPTS` attempts. At least once: a
partner deduplicates on the event id. See docs/partner-webhooks.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from admission.models import CheckIn
from bookings.models import Booking
from ticketing import outbox
from ticketing.lib.netguard import REFUSED_ERRORS, endpoint_problem, guarded_session
from ticketing.lib.retry import RetryPolicy, retry_after_seconds

from .models import TICKET_CHECKED_IN, PartnerWebhook, PartnerWebhookDelivery

logger = logging.getLogger(__name__)

Status = PartnerWebhookDelivery.Status

SIGNATURE_HEADER = "X-Ticketing-Signature"
TIMEOUT = (3.05, 10)  # (connect, read) seconds
MAX_ATTEMPTS = 8
# 30 s, 1, 2, 4, 8, 16, 32 min (each up to 20 % shorter), then given up.
RETRY_POLICY = RetryPolicy(base=30, cap=3600, max_attempts=MAX_ATTEMPTS)
DELIVERY_KIND = "partner_api.webhook_delivery"
# A row claimed for sending longer than this was lost with its worker.
SENDING_LEASE = dt.timedelta(minutes=2)
# The outbox lease outlasts it, so that a row handed out again is claimable by then.
OUTBOX_LEASE = SENDING_LEASE + dt.timedelta(seconds=30)
_ERROR_MAX = 500
# The partner asked us to stop: no retry.
_GONE = 410


# -- queueing ------------------------------------------------------------------------


def webhook_event_enqueue(
    *, organiser_id: int, event: str, data: dict[str, Any]
) -> list[int]:
    """Queue `event` for every active endpoint of the organiser subscribed to it, in
    the caller's transaction; returns the delivery ids (none when nobody listens).
    The outbox posts them once it commits."""
    webhook_ids = list(
        PartnerWebhook.objects.filter(
            organiser_id=organiser_id, is_active=True, events__contains=[event]
        ).values_list("pk", flat=True)
    )
    if not webhook_ids:
        return []
    now = timezone.now()
    payload = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event,
        "created": int(now.timestamp()),
        "data": data,
    }
    with transaction.atomic():
        deliveries = PartnerWebhookDelivery.objects.bulk_create(
            PartnerWebhookDelivery(
                webhook_id=webhook_id, event=event, payload=payload, next_attempt_at=now
            )
            for webhook_id in webhook_ids
        )
        ids = [delivery.pk for delivery in deliveries]
        for delivery_id in ids:
            _outbox_enqueue(delivery_id, organiser_id)
    return ids


def _outbox_enqueue(delivery_id: int, organiser_id: int | None) -> None:
    outbox.enqueue(
        DELIVERY_KIND,
        key=f"delivery:{delivery_id}",
        payload={"delivery_id": delivery_id},
        organiser_id=organiser_id,
    )


class DeliveryPending(Exception):  # noqa: N818 - a state, raised for the outbox
    """The delivery is not done yet: the outbox hands it over again at `retry_after`
    seconds (its `next_attempt_at`)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def delivery_send_handler(message) -> None:
    """The outbox handler of DELIVERY_KIND: post the delivery; raise DeliveryPending
    while it has attempts left, return once it succeeded or was given up."""
    delivery_id = message.payload["delivery_id"]
    delivery_send(delivery_id)
    delivery = PartnerWebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.next_attempt_at is None:
        return  # succeeded, given up, or gone
    if delivery.status == Status.SUCCEEDED:
        return
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    raise DeliveryPending(
        f"delivery {delivery_id} {delivery.status}: {delivery.last_error}"[:_ERROR_MAX],
        retry_after=max(0.0, wait),
    )


def booking_event_enqueue(*, booking_id: int, event: str) -> list[int]:
    booking = Booking.objects.get(pk=booking_id)
    return webhook_event_enqueue(
        organiser_id=booking.organiser_id,
        event=event,
        data={"booking": _booking_data(booking)},
    )


def check_in_event_enqueue(*, check_in_id: int) -> list[int]:
    check_in = CheckIn.objects.select_related("ticket__booking").get(pk=check_in_id)
    ticket = check_in.ticket
    return webhook_event_enqueue(
        organiser_id=ticket.organiser_id,
        event=TICKET_CHECKED_IN,
        data={
            "ticket": {
                "code": ticket.code,
                "status": ticket.status,
                "session_id": ticket.session_id,
                "ticket_type_id": ticket.ticket_type_id,
                "checked_in_at": check_in.created_at.isoformat(),
            },
            "booking": {"reference": ticket.booking.reference},
        },
    )


def _booking_data(booking: Booking) -> dict[str, Any]:
    return {
        "reference": booking.reference,
        "status": booking.status,
        "event_id": booking.event_id,
        "session_id": booking.session_id,
        "quantity": booking.quantity,
        "total_minor": booking.total_minor,
        "currency": booking.currency,
    }


# -- signing and sending -------------------------------------------------------------


def body_encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def signature_header(*, secret: str, body: str, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">``."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def delivery_send(delivery_id: int) -> str:
    """Post one delivery; returns its status afterwards.

    Claims the row (pending, failed or lost while sending, and due) with a
    conditional UPDATE, so a second run finds nothing to claim and posts nothing.
    2xx is success; anything else (a redirect is not followed) and network errors
    are failures, retried per RETRY_POLICY until `MAX_ATTEMPTS` (later when the
    answer's Retry-After asks, up to the cap), except 410 Gone.
    """
    now = timezone.now()
    claimed = PartnerWebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=(Status.PENDING, Status.FAILED, Status.SENDING),
        next_attempt_at__lte=now,
    ).update(
        status=Status.SENDING,
        attempts=F("attempts") + 1,
        next_attempt_at=now + SENDING_LEASE,
    )
    delivery = PartnerWebhookDelivery.objects.select_related("webhook").get(
        pk=delivery_id
    )
    if not claimed:
        logger.info(
            "Partner webhook delivery %s not claimed (status %s)",
            delivery_id,
            delivery.status,
        )
        return delivery.status
    webhook = delivery.webhook

    status_code: int | None = None
    retry_after: float | None = None
    error = ""
    started = time.monotonic()
    if not webhook.is_active:
        error = "endpoint disabled"
    elif _refused(webhook.url):
        error = "endpoint resolves to a private address; not sent"
    else:
        body = body_encode(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ticketing-webhooks/1",
            "X-Ticketing-Event": delivery.event,
            "X-Ticketing-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature_header(
                secret=webhook.secret, body=body, timestamp=int(time.time())
            ),
        }
        allow_loopback = settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK
        try:
            with guarded_session(
                timeout=TIMEOUT, allow_loopback=allow_loopback
            ) as session:
                response = session.post(
                    webhook.url,
                    data=body.encode(),
                    headers=headers,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
        except REFUSED_ERRORS:
            # The name resolved to a private address at connection time (rebinding).
            error = "endpoint resolves to a private address; not sent"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        else:
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"[:_ERROR_MAX]
                # A partner that says when to come back (429, 503) is heard, up to
                # the policy's cap; any other non-2xx just backs off.
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    duration_ms = int((time.monotonic() - started) * 1000)

    finished = timezone.now()
    entry = {
        "at": finished.isoformat(),
        "status_code": status_code,
        "error": error,
        "duration_ms": duration_ms,
    }
    fields: dict[str, Any] = {
        "last_status_code": status_code,
        "last_error": error,
        "attempt_log": [*delivery.attempt_log, entry],
    }
    if not error:
        fields.update(
            status=Status.SUCCEEDED, delivered_at=finished, next_attempt_at=None
        )
    else:
        final = status_code == _GONE or not webhook.is_active
        fields.update(
            status=Status.FAILED,
            next_attempt_at=None
            if final
            else RETRY_POLICY.next_attempt_at(
                delivery.attempts, now=finished, retry_after=retry_after
            ),
        )
    PartnerWebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if error and fields["next_attempt_at"] is None:
        _exhausted_alert(delivery, webhook, error)
    logger.info(
        "Partner webhook delivery %s (%s, endpoint %s) attempt %s: %s",
        delivery.pk,
        delivery.event,
        webhook.pk,
        delivery.attempts,
        status_code if status_code is not None else error,
        extra={"delivery_id": delivery.pk, "status_code": status_code},
    )
    return fields["status"]


def _refused(url: str) -> bool:
    """The endpoint is, or now resolves to, a non-public address. A name that does
    not resolve is left to the request, which fails and is retried."""
    problem = endpoint_problem(
        url, allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK
    )
    return problem not in (None, "does not resolve")


def deliveries_replay(delivery_ids: list[int]) -> int:
    """Send deliveries again from the first attempt (the admin's replay); rows being
    sent right now are left alone. Earlier attempts stay in the log."""
    with transaction.atomic():
        ids = list(
            PartnerWebhookDelivery.objects.filter(pk__in=delivery_ids)
            .exclude(status=Status.SENDING)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        PartnerWebhookDelivery.objects.filter(pk__in=ids).update(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            delivered_at=None,
        )
        organisers = dict(
            PartnerWebhookDelivery.objects.filter(pk__in=ids).values_list(
                "pk", "webhook__organiser_id"
            )
        )
        for delivery_id in ids:
            _outbox_enqueue(delivery_id, organisers.get(delivery_id))
    return len(ids)


def webhook_secret_rotate(webhook: PartnerWebhook) -> str:
    """Give the endpoint a new secret and return it (shown to the organiser once)."""
    from .models import secret_generate

    secret = secret_generate()
    webhook.secret = secret
    webhook.save(update_fields=["secret_encrypted"])
    return secret


def deliveries_oldest_due(now: dt.datetime) -> dt.datetime | None:
    """Since when the longest-waiting due delivery has been due (None: none is), for
    the health check: a pending row is due from its creation, a failed one from the
    end of its backoff, one being sent from the end of its lease."""
    return PartnerWebhookDelivery.objects.filter(
        status__in=(Status.PENDING, Status.FAILED, Status.SENDING),
        next_attempt_at__lte=now,
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]


def _exhausted_alert(delivery, webhook, error: str) -> None:
    from django.urls import reverse

    from ticketing.alerts import alert_raise
    from ticketing.models import Alert

    alert_raise(
        kind=Alert.Kind.DELIVERY_EXHAUSTED,
        organiser=webhook.organiser_id,
        subject=f"partner-webhook-delivery:{delivery.pk}",
        message=(
            f"The {delivery.event} webhook to {webhook.url} was given up after "
            f"{delivery.attempts} attempts. Last error: {error}"
        ),
        link=reverse(
            "admin:partner_api_partnerwebhookdelivery_change", args=[delivery.pk]
        ),
    )
