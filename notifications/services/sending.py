"""Sending one stored notification: claiming its row (queued, retryable failed or
stale sending → sending), handing it to its channel and recording the outcome, plus
the outbox handler and retry policy of `notifications.send`. Apart from the channels
because this is the part that makes a send safe to run twice and decides what is
retried; it does not know how an email or SMS is built.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import F, Q
from django.utils import timezone, translation

from bookings.models import Booking
from ticketing.lib.retry import RetryPolicy

from ..models import Notification
from .channels import (
    NotificationTemporaryError,
    _Rejected,
    _send_email,
    _send_sms,
    _Skipped,
)

logger = logging.getLogger(__name__)

Channel = Notification.Channel
Status = Notification.Status
Template = Notification.Template

# Attempts of one row in all.
MAX_ATTEMPTS = 10
# A failed send waits 30 s, 1 min, 2 min ... at most an hour (less some jitter).
SEND_POLICY = RetryPolicy(base=30, cap=3600, max_attempts=MAX_ATTEMPTS)
# A row still sending this long after it was claimed lost its worker mid-send; it is
# sent again (at least once: the first attempt may have reached the provider).
SENDING_STALE_AFTER = dt.timedelta(minutes=10)
# The outbox lease outlasts it, so that a row the outbox hands out again after a lost
# worker is claimable by then.
SEND_LEASE = SENDING_STALE_AFTER + dt.timedelta(minutes=1)
# last_error of a send the provider refused (4xx): never retried.
REJECTED_PREFIX = "rejected: "


def notification_send_handler(message) -> None:
    """The outbox handler of SEND_KIND: send the row, raise to be retried."""
    notification_id = message.payload["notification_id"]
    status = notification_send(notification_id)
    if status == Status.SENDING:
        # Another worker claimed it less than SENDING_STALE_AFTER ago (a task queued
        # before the outbox, or an admin resend): look again later.
        raise NotificationTemporaryError("being sent by another worker")


def notification_send(notification_id: int) -> str:
    """Send one notification; returns its status afterwards.

    Safe to run twice: a conditional UPDATE claims the row (queued, retryable
    failed, or stale sending → sending, attempts + 1), so a second run of the same
    task finds nothing to claim and sends nothing. Raises NotificationTemporaryError
    after recording a retryable failure (the outbox retries it); a refusal by
    the provider is recorded as failed and not raised; a missing provider is
    recorded as skipped with a warning.
    """
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(_claimable(now))
        .update(status=Status.SENDING, attempts=F("attempts") + 1, updated_at=now)
    )
    if not claimed:
        status = (
            Notification.objects.filter(pk=notification_id)
            .values_list("status", flat=True)
            .first()
        )
        logger.info("Notification %s not claimed (status %s)", notification_id, status)
        return status or ""
    notification = Notification.objects.select_related(
        "booking__event",
        "booking__session__venue",
        "booking__organiser",
    ).get(pk=notification_id)
    try:
        with translation.override(notification.language):
            if (
                notification.template == Template.CONFIRMATION
                and notification.booking.status != Booking.Status.CONFIRMED
            ):
                raise _Skipped("the booking is no longer confirmed")
            if (
                notification.template == Template.PAYMENT_INSTRUCTIONS
                and notification.booking.status != Booking.Status.PENDING
            ):
                raise _Skipped("the booking is no longer waiting for payment")
            if notification.channel == Channel.EMAIL:
                message_id, delivered = _send_email(notification)
            else:
                message_id, delivered = _send_sms(notification)
    except _Skipped as reason:
        logger.warning(
            "Notification %s skipped: %s",
            notification.pk,
            reason,
            extra={"notification_id": notification.pk},
        )
        _finish(notification.pk, status=Status.SKIPPED, last_error=str(reason))
        return Status.SKIPPED
    except _Rejected as reason:
        logger.warning(
            "Notification %s refused by the provider: %s",
            notification.pk,
            reason,
            extra={"notification_id": notification.pk},
        )
        _finish(
            notification.pk,
            status=Status.FAILED,
            last_error=f"{REJECTED_PREFIX}{reason}",
        )
        return Status.FAILED
    except NotificationTemporaryError as error:
        logger.warning(
            "Notification %s failed, will retry: %s",
            notification.pk,
            error,
            extra={"notification_id": notification.pk},
        )
        _finish(notification.pk, status=Status.FAILED, last_error=str(error))
        raise
    except Exception as error:
        # Unexpected: recorded for the retry task and the admin, then raised for the
        # error tracker.
        _finish(
            notification.pk,
            status=Status.FAILED,
            last_error=f"unexpected {type(error).__name__}",
        )
        raise
    status = Status.SENT if delivered else Status.SKIPPED
    if not delivered:
        logger.warning(
            "Notification %s not delivered: no %s provider configured",
            notification.pk,
            notification.channel,
            extra={"notification_id": notification.pk},
        )
    _finish(
        notification.pk,
        status=status,
        provider_message_id=message_id,
        last_error="" if delivered else "no provider configured",
    )
    return status


def _claimable(now) -> Q:
    return (
        Q(status=Status.QUEUED)
        | (
            Q(status=Status.FAILED, provider_message_id="", attempts__lt=MAX_ATTEMPTS)
            & ~Q(last_error__startswith=REJECTED_PREFIX)
        )
        | Q(
            status=Status.SENDING,
            updated_at__lt=now - SENDING_STALE_AFTER,
            attempts__lt=MAX_ATTEMPTS,
        )
    )


def _finish(
    notification_id: int,
    *,
    status: str,
    last_error: str = "",
    provider_message_id: str = "",
) -> None:
    now = timezone.now()
    fields = {"status": status, "last_error": last_error[:1000], "updated_at": now}
    if provider_message_id:
        fields.update(provider_message_id=provider_message_id, sent_at=now)
    updated = Notification.objects.filter(
        pk=notification_id, status=Status.SENDING
    ).update(**fields)
    if not updated and provider_message_id:
        # A delivery report overtook us (it found the row by its id): keep its
        # status, record the message id.
        Notification.objects.filter(pk=notification_id).update(
            provider_message_id=provider_message_id, sent_at=now, updated_at=now
        )
