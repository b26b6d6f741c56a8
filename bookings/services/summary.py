"""The booking summary email, until notifications bring tickets and an outbox."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from ticketing.audit import audit_log

from ..models import Booking


def booking_resend(*, booking_id: int, actor=None) -> None:
    """Record the request and send the summary after commit, by a task."""
    from ..tasks import booking_summary_send_task

    with transaction.atomic():
        booking = Booking.objects.get(pk=booking_id)
        audit_log(
            action="bookings.booking.summary_resent",
            obj=booking,
            organiser_id=booking.organiser_id,
            actor=actor,
            data={"reference": booking.reference, "to": booking.buyer_email},
        )
        transaction.on_commit(lambda: booking_summary_send_task.delay(booking_id))


def booking_summary_send(*, booking_id: int) -> int:
    booking = (
        Booking.objects.select_related("event", "session__venue", "organiser")
        .prefetch_related("lines__ticket_type")
        .get(pk=booking_id)
    )
    starts_at = timezone.localtime(booking.session.starts_at, booking.event.tzinfo)
    body = render_to_string(
        "bookings/email/summary.txt", {"booking": booking, "starts_at": starts_at}
    )
    return send_mail(
        subject=_("%(event)s: booking %(reference)s")
        % {"event": booking.event.title, "reference": booking.reference},
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[booking.buyer_email],
    )
