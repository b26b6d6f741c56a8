"""Delivery reports: what Brevo and Twilio say about a message after we sent it
(delivered, bounced, failed), applied to its row. Apart from sending because reports
arrive later through webhooks, out of order and sometimes twice, and only ever move
a row forward.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from ..models import Notification

logger = logging.getLogger(__name__)

Status = Notification.Status


# Which statuses a delivery report may replace: delivered is final; a report never
# brings a row back to sent.
_REPORT_FROM = {
    Status.DELIVERED: (Status.SENDING, Status.SENT, Status.FAILED, Status.BOUNCED),
    Status.BOUNCED: (Status.SENDING, Status.SENT),
    Status.FAILED: (Status.SENDING, Status.SENT),
}


def notification_status_update(
    *,
    channel: str,
    provider_message_id: str,
    status: str,
    notification_id: int | str | None = None,
    error: str = "",
) -> int:
    """Record a provider's delivery report (delivered, bounced or failed); returns
    the number of rows changed. Reports may come twice or out of order: a row only
    moves forward (see `_REPORT_FROM`). `notification_id` (echoed back by the
    provider) finds a row whose message id is not stored yet."""
    if status not in _REPORT_FROM or not provider_message_id:
        return 0
    fields = {"status": status, "updated_at": timezone.now()}
    if status != Status.DELIVERED:
        fields["last_error"] = error[:1000]
    rows = Notification.objects.filter(channel=channel)
    known = rows.filter(provider_message_id=provider_message_id)
    if known.exists():
        return known.filter(status__in=_REPORT_FROM[status]).update(**fields)
    try:
        pk = int(notification_id) if notification_id else None
    except (TypeError, ValueError):
        pk = None
    if pk is None:
        logger.info("Delivery report for unknown %s message", channel)
        return 0
    return rows.filter(
        pk=pk, provider_message_id="", status__in=_REPORT_FROM[status]
    ).update(provider_message_id=provider_message_id, **fields)
