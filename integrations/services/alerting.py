"""What integrations tells organisers through `ticketing.alerts`: an oversold
session, a connection whose syncs keep failing, a platform webhook given up on."""

from __future__ import annotations

from django.urls import reverse

from ticketing.alerts import alert_raise, alert_resolve
from ticketing.models import Alert

from ..models import Connection, SyncRun

# Failed runs in a row before a connection's sync is reported failing.
SYNC_FAILURES_ALERT = 3


def oversold_alert_raise(*, session, result) -> None:
    alert_raise(
        kind=Alert.Kind.OVERSOLD,
        organiser=session.event.organiser_id,
        subject=f"session:{session.pk}",
        message=(
            f"{session} is oversold by {result.oversold_by}: capacity "
            f"{result.capacity}, sold here {result.sold_here}, held here "
            f"{result.held_here}, sold on other platforms {result.sold_external}. "
            "It has stopped selling here; decide what to do with the extra seats."
        ),
        link=reverse("admin:events_session_change", args=[session.pk]),
    )


def oversold_alert_resolve(session_id: int) -> None:
    alert_resolve(kind=Alert.Kind.OVERSOLD, subject=f"session:{session_id}")


def sync_alert_update(connection: Connection, run: SyncRun) -> None:
    """Raise after SYNC_FAILURES_ALERT failed runs in a row; the next success
    resolves it."""
    subject = f"connection:{connection.pk}"
    if run.status == SyncRun.Status.SUCCESS:
        alert_resolve(kind=Alert.Kind.SYNC_FAILING, subject=subject)
        return
    recent = list(
        connection.runs.exclude(status=SyncRun.Status.RUNNING)
        .order_by("-started_at", "-pk")
        .values_list("status", flat=True)[:SYNC_FAILURES_ALERT]
    )
    if len(recent) == SYNC_FAILURES_ALERT and all(
        status == SyncRun.Status.FAILED for status in recent
    ):
        alert_raise(
            kind=Alert.Kind.SYNC_FAILING,
            organiser=connection.organiser_id,
            subject=subject,
            message=(
                f"The last {SYNC_FAILURES_ALERT} syncs of {connection} failed; sales "
                f"there are not counted here meanwhile. Last error: "
                f"{connection.last_error or run.status}"
            ),
            link=reverse("admin:integrations_connection_change", args=[connection.pk]),
        )


def webhook_exhausted_alert(webhook) -> None:
    connection = webhook.connection
    alert_raise(
        kind=Alert.Kind.WEBHOOK_EXHAUSTED,
        organiser=connection.organiser_id if connection else None,
        subject=f"platform-webhook:{webhook.pk}",
        message=(
            f"A {webhook.platform} webhook was given up after {webhook.attempts} "
            f"attempts: {webhook.error}. The next scheduled sync still brings its data."
        ),
        link=reverse("admin:integrations_platformwebhook_change", args=[webhook.pk]),
    )
