"""Alerts found by looking rather than by an event: run by beat every 5 minutes
(`ticketing.tasks.alerts_check`), then the alerts due an email are sent.

Built in: a backlog of stored work (`ticketing.health.register_backlog`) whose oldest
due row has waited longer than `health.BACKLOG_MAX_AGE` (site admins). Apps register
their own with `register_alert_check` in `AppConfig.ready()` (payments: refunds of
unknown outcome older than a day). A check raises what it finds and resolves what
has cleared.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from ticketing import health
from ticketing.alerts import (
    EMAIL_KIND,
    alert_raise,
    alert_resolve,
    alerts_notify_due,
)
from ticketing.models import Alert, OutboxMessage

logger = logging.getLogger(__name__)

_checks: dict[str, Callable[[dt.datetime], None]] = {}


def register_alert_check(name: str, check: Callable[[dt.datetime], None]) -> None:
    _checks[name] = check


def backlogs_check(now: dt.datetime) -> None:
    limit = health.BACKLOG_MAX_AGE
    for name, backlog in health.backlogs().items():
        subject = f"backlog:{name}"
        oldest = backlog.oldest_due(now)
        if oldest is not None and now - oldest > limit:
            minutes = int((now - oldest).total_seconds() // 60)
            alert_raise(
                kind=Alert.Kind.BACKLOG_STUCK,
                organiser=None,
                subject=subject,
                message=(
                    f"Stored work in {name} has waited {minutes} minutes: workers or "
                    "beat are down, or every attempt fails. See /healthz/full."
                ),
                link=backlog.link() if backlog.link else reverse("admin:index"),
            )
        else:
            alert_resolve(kind=Alert.Kind.BACKLOG_STUCK, subject=subject)


def outbox_dead_check(now: dt.datetime) -> None:
    """Outbox rows out of attempts (an email, an SMS, a push): nothing retries them
    until a person does ("retry now" in the admin). One alert per outbox kind and
    organiser, with how many rows are dead: an outage that kills a thousand emails
    is one alert, not a thousand."""
    dead = OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD).exclude(
        kind=EMAIL_KIND  # an alert about an alert's email would loop
    )
    groups = (
        dead.values("kind", "organiser_id")
        .annotate(rows=Count("pk"), latest=Max("pk"))
        .order_by("kind", "organiser_id")
    )
    dead_subjects = set()
    for group in groups:
        kind, organiser_id = group["kind"], group["organiser_id"]
        subject = _dead_subject(kind, organiser_id)
        dead_subjects.add(subject)
        latest = OutboxMessage.objects.get(pk=group["latest"])
        alert_raise(
            kind=Alert.Kind.DELIVERY_EXHAUSTED,
            organiser=organiser_id,
            subject=subject,
            message=(
                f"{group['rows']} {kind} row(s) given up after their last attempt. "
                f"Latest: {latest.key or latest.pk}, {latest.attempts} attempts: "
                f"{latest.last_error[:500]}"
            ),
            link=health.admin_link("ticketing_outboxmessage", status="dead", kind=kind),
        )
    for subject in Alert.objects.filter(
        kind=Alert.Kind.DELIVERY_EXHAUSTED,
        subject__startswith="outbox:",
        resolved_at__isnull=True,
    ).values_list("subject", flat=True):
        if subject not in dead_subjects:
            alert_resolve(kind=Alert.Kind.DELIVERY_EXHAUSTED, subject=subject)


def _dead_subject(kind: str, organiser_id: int | None) -> str:
    # One open alert per subject site-wide: the organiser is part of it.
    who = f"organiser:{organiser_id}" if organiser_id is not None else "site"
    return f"outbox:{kind}:{who}"


def alerts_check(now: dt.datetime | None = None) -> int:
    """Run every check (one failing does not stop the others), then queue the
    emails that are due. Returns how many were queued."""
    now = now or timezone.now()
    builtin = {"backlogs": backlogs_check, "outbox_dead": outbox_dead_check}
    for name, check in {**builtin, **_checks}.items():
        try:
            check(now)
        except Exception:  # one broken check must not silence the others
            logger.exception("Alert check %s failed", name)
    return alerts_notify_due(now=now)
