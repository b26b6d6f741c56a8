"""Thin Celery wrappers over payment services."""

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from bookings.models import Booking
from ticketing.lib.retry import TASK_RETRIES, celery_retry_options
from ticketing.lib.tasks import done_when_row_gone

from . import services
from .models import Payment, Provider, Refund
from .providers.base import ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)

_RETRYING = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (ProviderUnavailable,),
    **celery_retry_options(TASK_RETRIES),
    "ignore_result": True,
}


# No autoretry: `webhook_process` stores any failure on the delivery with its next
# attempt (PAYMENT_WEBHOOKS) and returns, and the beat sweep runs it again.
@shared_task(
    name="payments.tasks.webhook_process", bind=True, acks_late=True, ignore_result=True
)
@done_when_row_gone
def webhook_process_task(self, delivery_id: int) -> bool:
    return services.webhook_process(delivery_id=delivery_id)


@shared_task(name="payments.tasks.webhooks_retry_due", **_RETRYING)
def webhooks_retry_due_task(self) -> int:
    return services.webhooks_retry_due()


@shared_task(name="payments.tasks.webhooks_rejected_purge", ignore_result=True)
def webhooks_rejected_purge_task() -> int:
    return services.webhooks_rejected_purge()


@shared_task(name="payments.tasks.payment_cancel_open", **_RETRYING)
def payment_cancel_open_task(self, booking_ids: list[int]) -> int:
    return services.payment_cancel_open(booking_ids=booking_ids)


@shared_task(name="payments.tasks.payments_reconcile", **_RETRYING)
def payments_reconcile_task(self) -> int:
    """Ask the provider about payments left pending too long, and settle them; ask
    again for refunds of unknown outcome as old, where that is safe."""
    cutoff = timezone.now() - dt.timedelta(
        minutes=settings.PAYMENT_RECONCILE_AFTER_MINUTES
    )
    settled = 0
    # A bank transfer has nobody to ask: only the organiser marks it paid.
    stale = Payment.objects.filter(
        status=Payment.Status.PENDING, updated_at__lt=cutoff
    ).exclude(provider=Provider.OFFLINE)
    # Open attempts of bookings that no longer hold seats (released after a failed
    # attempt, expired): their cancel task was lost if the broker was down.
    # Read before the settling below touches `updated_at`.
    orphaned = list(
        stale.filter(
            booking__status__in=[Booking.Status.CANCELLED, Booking.Status.EXPIRED]
        )
        .values_list("booking_id", flat=True)
        .distinct()[:200]
    )
    for payment_id in stale.values_list("pk", flat=True)[:200]:
        try:
            services.payment_settle(payment_id=payment_id, source="reconcile")
        except ProviderError:
            logger.warning("Reconciling payment %s failed", payment_id, exc_info=True)
            continue
        settled += 1
    if orphaned:
        services.payment_cancel_open(booking_ids=orphaned)
    # A pending refund with an error and without the provider's id: never answered.
    unconfirmed = Refund.objects.filter(
        status=Refund.Status.PENDING, provider_refund_id="", created_at__lt=cutoff
    ).exclude(last_error="")
    for refund_id in unconfirmed.values_list("pk", flat=True)[:200]:
        services.refund_retry_unconfirmed(refund_id=refund_id)
    return settled
