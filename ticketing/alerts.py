"""Alerts: raise, repeat, resolve, and tell people.

`alert_raise(kind=..., organiser=..., subject=..., message=..., link=...)` opens an
alert, or bumps the open one of the same kind and subject (its count, last seen
time, latest message). `alert_resolve(kind=..., subject=...)` closes it; the next
raise opens a new one. Both join the caller's transaction.

Email: a new alert writes an outbox row (kind `ticketing.alert_email`) in the
transaction that raised it, so it is mailed once that commits, to the organiser's
owners and managers and to the site admins (superusers); while it stays open and
keeps being raised, at most one more email an hour says how many times it was seen
since (`alerts_notify_due`, beat every 5 minutes, writes those rows). Rows of one
alert coalesce (key `alert:<id>`), and the handler claims the alert's hourly slot
before sending, so a row handled twice sends once.

A stuck backlog (`backlog_stuck`) is mailed directly instead, right after its
transaction commits: the outbox may be the very thing that is stuck.

Recipients come from the apps above the core (`register_recipients`), since the core
cannot import the organiser's members.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ticketing import metrics, outbox
from ticketing.models import Alert

logger = logging.getLogger(__name__)

EMAIL_EVERY = dt.timedelta(hours=1)
_recipients: list[Callable[[int], Iterable[str]]] = []


def register_recipients(find: Callable[[int], Iterable[str]]) -> None:
    """`find(organiser_id)`: emails of the people who hear an organiser's alerts."""
    _recipients.append(find)


def _organiser_id(organiser) -> int | None:
    if organiser is None or isinstance(organiser, int):
        return organiser
    return organiser.pk


def alert_raise(
    *,
    kind: str,
    organiser,
    subject: str,
    message: str,
    link: str = "",
) -> Alert:
    """Open an alert, or bump the open one of this kind and subject. `organiser`:
    an Organiser, its id, or None for the site's admins only. Mailed after commit."""
    now = timezone.now()
    organiser_id = _organiser_id(organiser)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                bumped = Alert.objects.filter(
                    kind=kind, subject=subject, resolved_at__isnull=True
                ).update(
                    count=F("count") + 1,
                    last_seen_at=now,
                    message=message,
                    link=link or F("link"),
                )
                _count_on_commit(kind)
                if bumped:
                    return Alert.objects.get(
                        kind=kind, subject=subject, resolved_at__isnull=True
                    )
                alert = Alert.objects.create(
                    kind=kind,
                    organiser_id=organiser_id,
                    subject=subject,
                    message=message,
                    link=link,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                _email_enqueue(alert)
        except IntegrityError:  # raised at once elsewhere: bump that one instead
            continue
        logger.warning("Alert %s raised for %s: %s", kind, subject, message)
        return alert
    raise RuntimeError(f"Could not raise alert {kind} {subject}")


def alert_resolve(*, kind: str, subject: str) -> int:
    """Close the open alert of this kind and subject, if any; returns how many."""
    resolved = Alert.objects.filter(
        kind=kind, subject=subject, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())
    if resolved:
        logger.info("Alert %s resolved for %s", kind, subject)
    return resolved


def _count_on_commit(kind: str) -> None:
    # Counted once the raise commits: an attempt rolled back (and retried, by the
    # loop above or by the caller's task) must not count twice.
    transaction.on_commit(lambda: metrics.ALERTS.labels(kind=kind).inc())


EMAIL_KIND = "ticketing.alert_email"

# Mailed without the outbox: when the outbox itself stops moving, an alert about it
# queued behind the stuck rows would never be sent.
DIRECT_KINDS = frozenset({Alert.Kind.BACKLOG_STUCK})


def _email_enqueue(alert: Alert) -> None:
    """In the caller's transaction: the alert's email, as an outbox row (or, for
    DIRECT_KINDS, sent straight after the commit)."""
    if alert.kind in DIRECT_KINDS:
        alert_id = alert.pk
        transaction.on_commit(lambda: _notify_direct(alert_id))
        return
    outbox.enqueue(
        EMAIL_KIND,
        key=f"alert:{alert.pk}",
        payload={"alert_id": alert.pk},
        organiser_id=alert.organiser_id,
    )


def _notify_direct(alert_id: int) -> None:
    try:
        alert_notify(alert_id)
    except Exception:  # mail down: the next check (5 minutes) bumps it and tries again
        Alert.objects.filter(pk=alert_id).update(emailed_at=None, emailed_count=0)
        logger.exception("Could not email alert %s", alert_id)


def alert_email_handler(message) -> None:
    """The outbox handler of EMAIL_KIND (registered in TicketingConfig.ready)."""
    alert_notify(message.payload["alert_id"])


def alert_recipients(alert: Alert) -> list[str]:
    emails: set[str] = set()
    if alert.organiser_id is not None:
        for find in _recipients:
            emails.update(find(alert.organiser_id))
    emails.update(
        get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return sorted(email for email in emails if email)


def alert_notify(alert_id: int, *, now: dt.datetime | None = None) -> bool:
    """Email an open alert unless one went out in the last hour, or nothing new was
    seen since. The row is claimed by a conditional UPDATE first, so two runs never
    both send. Returns whether an email went out."""
    now = now or timezone.now()
    claimed = (
        Alert.objects.filter(pk=alert_id, resolved_at__isnull=True)
        .filter(Q(emailed_at__isnull=True) | Q(emailed_at__lte=now - EMAIL_EVERY))
        .filter(Q(emailed_at__isnull=True) | Q(count__gt=F("emailed_count")))
        .update(emailed_at=now, emailed_count=F("count"))
    )
    if not claimed:
        return False
    alert = Alert.objects.get(pk=alert_id)
    recipients = alert_recipients(alert)
    if not recipients:
        logger.warning("Alert %s has nobody to tell", alert.pk)
        return False
    link = f"{settings.SITE_URL}{alert.link}" if alert.link else settings.SITE_URL
    seen = (
        f"Seen {alert.count} times since {alert.first_seen_at:%Y-%m-%d %H:%M} UTC."
        if alert.count > 1
        else f"Seen at {alert.first_seen_at:%Y-%m-%d %H:%M} UTC."
    )
    send_mail(
        subject=f"[Alert] {alert.get_kind_display()}: {alert.subject}",
        message=f"{alert.message}\n\n{seen}\n\n{link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
    return True


def alerts_notify_due(*, now: dt.datetime | None = None) -> int:
    """For beat: queue the email of open alerts seen again since their last email
    an hour or more ago (and of any never mailed). Returns how many were queued."""
    now = now or timezone.now()
    due = Alert.objects.filter(resolved_at__isnull=True).filter(
        Q(emailed_at__isnull=True)
        | Q(emailed_at__lte=now - EMAIL_EVERY, count__gt=F("emailed_count"))
    )
    queued = 0
    with transaction.atomic():
        for alert in due:
            _email_enqueue(alert)
            queued += 1
    return queued
