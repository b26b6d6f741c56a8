"""Writing notifications: which rows a booking's event gets, in which language, and
their outbox entries (kind `SEND_KIND`), all inside the caller's transaction. Apart
from sending because nothing here talks to a provider: these functions only decide
what to say to whom and make sure it is sent once after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bookings.exceptions import InvalidTransition
from bookings.models import Booking
from ticketing import outbox
from ticketing.audit import audit_log

from ..models import Notification

Channel = Notification.Channel
Template = Notification.Template

SEND_KIND = "notifications.send"


def notification_queue(
    *,
    booking: Booking,
    template: str,
    channels: Iterable[str] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """Write one row per channel (SMS only when the buyer gave a phone) in the
    current transaction and send each after commit; nothing is sent if it rolls
    back. Call it inside the transaction of the change that causes the message."""
    return notifications_write(
        notification_rows(booking=booking, template=template, channels=channels)
    )


def notification_rows(
    *,
    booking: Booking,
    template: str,
    channels: Iterable[str] = (Channel.EMAIL, Channel.SMS),
) -> list[Notification]:
    """The unsaved rows of one message to a buyer, one per channel they gave.
    Raises ValidationError for a row that could not be stored."""
    language = _language(booking.language)
    recipients = {Channel.EMAIL: booking.buyer_email, Channel.SMS: booking.buyer_phone}
    notifications = []
    for channel in channels:
        if not recipients[channel]:
            continue
        notification = Notification(
            booking=booking,
            organiser_id=booking.organiser_id,
            channel=channel,
            template=template,
            recipient=recipients[channel],
            language=language,
        )
        # The booking is at hand: no query to check that it and its organiser exist.
        notification.clean_fields(exclude={"booking", "organiser"})
        notifications.append(notification)
    return notifications


def notifications_write(notifications: list[Notification]) -> list[Notification]:
    """Store `notifications` and their outbox rows, two statements however many
    (inside the caller's transaction)."""
    if not notifications:
        return []
    Notification.objects.bulk_create(notifications)
    sends_enqueue((n.pk, n.organiser_id) for n in notifications)
    return notifications


def sends_enqueue(rows: Iterable[tuple[int, int]]) -> None:
    """The outbox rows that send stored notifications, (id, organiser id) each, in
    one statement (inside the transaction that wrote them)."""
    outbox.enqueue_many(
        SEND_KIND,
        [
            outbox.Entry(
                key=f"notification:{pk}",
                payload={"notification_id": pk},
                organiser_id=organiser_id,
            )
            for pk, organiser_id in rows
        ],
    )


def booking_notice_queue(*, booking_id: int, template: str) -> list[Notification]:
    """Queue `template` for a booking once (a replayed signal queues nothing): a
    confirmation while it is confirmed, a cancellation if it had been confirmed, a
    refund once refunded. Locks the booking row to serialise duplicate signals."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        expected = {
            Template.CONFIRMATION: booking.status == Booking.Status.CONFIRMED,
            Template.CANCELLATION: booking.status == Booking.Status.CANCELLED
            and booking.confirmed_at is not None,
            Template.REFUND: booking.status == Booking.Status.REFUNDED,
            Template.HOLD_EXPIRING: booking.status == Booking.Status.PENDING
            and booking.expires_at is not None
            and booking.expires_at > timezone.now(),
            Template.PAYMENT_INSTRUCTIONS: booking.status == Booking.Status.PENDING,
            # Sent by the release of a hold whose payment failed, in its transaction.
            Template.PAYMENT_FAILED: booking.status
            in (Booking.Status.PENDING, Booking.Status.CANCELLED)
            and booking.confirmed_at is None,
            Template.HOLD_EXPIRED: booking.status == Booking.Status.EXPIRED,
        }
        if not expected.get(template, True):
            return []
        if booking.notifications.filter(template=template).exists():
            return []
        return notification_queue(booking=booking, template=template)


def hold_reminders_queue(now: dt.datetime | None = None) -> int:
    """Queue the "hold expiring" reminder of every unpaid hold that is within its
    organiser's `hold_reminder_minutes` of expiring, once per booking (Celery beat
    runs this every minute). Returns how many bookings got one."""
    now = now or timezone.now()
    window_end = now + dt.timedelta(minutes=60)  # the longest reminder allowed
    candidates = (
        Booking.objects.filter(
            status=Booking.Status.PENDING,
            expires_at__gt=now,
            expires_at__lte=window_end,
            organiser__hold_reminder_minutes__isnull=False,
        )
        .exclude(notifications__template=Template.HOLD_EXPIRING)
        .values_list("pk", "expires_at", "organiser__hold_reminder_minutes")
    )
    queued = 0
    for booking_id, expires_at, minutes in candidates:
        if expires_at - now <= dt.timedelta(minutes=minutes) and booking_notice_queue(
            booking_id=booking_id, template=Template.HOLD_EXPIRING
        ):
            queued += 1
    return queued


def notification_resend(*, booking_id: int, actor=None) -> list[Notification]:
    """Queue the confirmation (email, and SMS with a phone) of a confirmed booking
    again, with an audit row. Raises InvalidTransition for other bookings."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.status != Booking.Status.CONFIRMED:
            raise InvalidTransition(_("Only a confirmed booking has tickets to send."))
        notifications = notification_queue(
            booking=booking, template=Template.CONFIRMATION
        )
        audit_log(
            action="bookings.booking.confirmation_resent",
            obj=booking,
            organiser_id=booking.organiser_id,
            actor=actor,
            data={
                "reference": booking.reference,
                "notifications": [n.pk for n in notifications],
            },
        )
    return notifications


def _language(code: str) -> str:
    available = {language for language, _name in settings.LANGUAGES}
    if code in available:
        return code
    base = (code or "").split("-")[0]
    return base if base in available else settings.LANGUAGE_CODE
