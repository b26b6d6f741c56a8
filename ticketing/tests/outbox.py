"""Driving the outbox from tests."""

import datetime as dt

from django.utils import timezone

from ticketing import outbox
from ticketing.models import OutboxMessage


def beat_dispatch(kind: str, capture, *, later=dt.timedelta(0)) -> int:
    """The outbox's beat run `later` from now, for rows of `kind`: every row due by
    then is handed to its handler (`capture` is pytest-django's
    django_capture_on_commit_callbacks). Returns how many were."""
    due = OutboxMessage.objects.filter(
        kind=kind,
        status=OutboxMessage.Status.PENDING,
        next_attempt_at__lte=timezone.now() + later,
    )
    count = due.update(next_attempt_at=timezone.now(), leased_until=None)
    with capture(execute=True):
        outbox.dispatch(kinds=[kind])
    return count
