"""Payment alerts (`ticketing.alerts`): refunds whose outcome is still unknown a day
after they were asked for."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from ticketing.alerts import alert_raise, alert_resolve
from ticketing.models import Alert

from .models import Refund

REFUND_UNKNOWN_AFTER = dt.timedelta(days=1)


def refunds_unknown_check(now: dt.datetime) -> None:
    stale = Refund.objects.filter(
        status=Refund.Status.PENDING, created_at__lt=now - REFUND_UNKNOWN_AFTER
    ).select_related("payment__booking")
    stale_ids = set()
    for refund in stale:
        stale_ids.add(refund.pk)
        alert_raise(
            kind=Alert.Kind.REFUND_UNKNOWN,
            organiser=refund.organiser_id,
            subject=f"refund:{refund.pk}",
            message=(
                f"A refund of {refund.amount_minor} (minor units, {refund.currency}) "
                f"for booking {refund.payment.booking.reference}, asked for "
                f"{refund.created_at:%Y-%m-%d %H:%M} UTC, has no known outcome. Check "
                "it with the payment provider."
            ),
            link=reverse("admin:payments_refund_change", args=[refund.pk]),
        )
    for subject in Alert.objects.filter(
        kind=Alert.Kind.REFUND_UNKNOWN, resolved_at__isnull=True
    ).values_list("subject", flat=True):
        if int(subject.removeprefix("refund:")) not in stale_ids:
            alert_resolve(kind=Alert.Kind.REFUND_UNKNOWN, subject=subject)
