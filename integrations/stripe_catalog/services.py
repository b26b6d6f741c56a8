"""Writes of the catalogue sync: queue pushes, record them, raise and clear alerts.

A change to an event or ticket type writes one outbox row (kind `KIND`, key
`event:<id>` or `ticket_type:<id>`) in the transaction of the change. The key is
unique among pending rows, so a burst of edits to one object leaves one row, and a
new row waits PUSH_DELAY before its first attempt so that the burst lands in it.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from events.models import Event, TicketType
from payments.selectors import connected_account_id
from ticketing import outbox
from ticketing.alerts import alert_raise, alert_resolve
from ticketing.audit import audit_log
from ticketing.models import Alert

from .models import CatalogSyncLog, PriceLink, ProductLink

logger = logging.getLogger(__name__)

KIND = "stripe_catalog.push"
# At most one push per object per PUSH_DELAY (ARCHITECTURE: coalesced pushes).
PUSH_DELAY = dt.timedelta(seconds=2)
ALERT_KIND = Alert.Kind.STRIPE_CATALOG_FAILING
ALERT_WINDOW = dt.timedelta(hours=1)

Entity = CatalogSyncLog.Entity
Status = CatalogSyncLog.Status


def catalog_push_enqueue(
    *,
    entity: str,
    object_id: int,
    organiser_id: int | None,
    force: bool = False,
    delay: dt.timedelta = PUSH_DELAY,
) -> int:
    """In the caller's transaction (one is opened when there is none): queue a push
    of one object. `force` sends it even if unchanged since the last push."""
    with transaction.atomic(savepoint=False):
        return outbox.enqueue(
            KIND,
            key=f"{entity}:{object_id}",
            payload={"entity": entity, "id": object_id, "force": force},
            organiser_id=organiser_id,
            delay=delay,
        )


def catalog_syncs_organiser(organiser_id: int) -> bool:
    """Changes of this organiser are pushed only once it has a connected account:
    the others would fill the outbox and the log with skips."""
    return connected_account_id(organiser_id) is not None


@transaction.atomic
def catalog_resync(*, organiser_id: int, force: bool = True, actor=None) -> int:
    """Queue a push of every event and ticket type of the organiser, and of deleted
    ones still active at Stripe (archived by the push); `force`: even of objects
    unchanged since their last push. Safe to run twice:
    the rows coalesce on their keys, and a push of an object Stripe already has
    updates it (no second Product or Price). Returns how many objects were queued."""
    event_ids = set(
        Event.objects.filter(organiser_id=organiser_id).values_list("pk", flat=True)
    ) | set(
        ProductLink.objects.filter(
            organiser_id=organiser_id, is_active=True
        ).values_list("event_id", flat=True)
    )
    type_ids = set(
        TicketType.objects.filter(event__organiser_id=organiser_id).values_list(
            "pk", flat=True
        )
    ) | set(
        PriceLink.objects.filter(organiser_id=organiser_id, is_active=True).values_list(
            "ticket_type_id", flat=True
        )
    )
    objects = [(Entity.EVENT, pk) for pk in sorted(event_ids)]
    objects += [(Entity.TICKET_TYPE, pk) for pk in sorted(type_ids)]
    for entity, object_id in objects:
        catalog_push_enqueue(
            entity=entity,
            object_id=object_id,
            organiser_id=organiser_id,
            force=force,
            delay=dt.timedelta(),
        )
    queued = len(objects)
    if actor is not None:
        audit_log(
            action="stripe_catalog.resync",
            organiser_id=organiser_id,
            actor=actor,
            data={"queued": queued},
        )
    return queued


def sync_log(
    *,
    organiser_id: int | None,
    entity: str,
    object_id: int,
    account_id: str,
    action: str,
    status: str,
    stripe_id: str = "",
    error: str = "",
) -> CatalogSyncLog:
    return CatalogSyncLog.objects.create(
        organiser_id=organiser_id,
        entity=entity,
        object_id=object_id,
        account_id=account_id,
        action=action,
        status=status,
        stripe_id=stripe_id,
        error=error[:2000],
    )


def _subject(organiser_id: int | None) -> str:
    return f"stripe_catalog:{organiser_id}"


def push_failed(
    *, organiser_id, entity: str, object_id: int, account_id: str, error: Exception
) -> None:
    """A failed push: a log row and the organiser's alert (bumped while it stays
    open; the outbox retries the push)."""
    text = f"{type(error).__name__}: {error}"
    with transaction.atomic():
        sync_log(
            organiser_id=organiser_id,
            entity=entity,
            object_id=object_id,
            account_id=account_id,
            action=CatalogSyncLog.Action.PUSH,
            status=Status.FAILED,
            error=text,
        )
        alert_raise(
            kind=ALERT_KIND,
            organiser=organiser_id,
            subject=_subject(organiser_id),
            message=f"Pushing {entity} {object_id} to Stripe failed: {text}"[:1000],
            link=reverse("admin:stripe_catalog_catalogsynclog_changelist")
            + "?status__exact=failed",
        )


def push_succeeded(*, organiser_id: int | None) -> None:
    """Close the organiser's alert once no object pushed in the last hour is left
    failing (its latest log row there a failure)."""
    if not Alert.objects.filter(
        kind=ALERT_KIND, subject=_subject(organiser_id), resolved_at__isnull=True
    ).exists():
        return
    since = timezone.now() - ALERT_WINDOW
    recent = CatalogSyncLog.objects.filter(
        organiser_id=organiser_id, created_at__gte=since
    )
    latest = recent.filter(
        entity=OuterRef("entity"), object_id=OuterRef("object_id")
    ).order_by("-created_at", "-id")
    still_failing = (
        recent.filter(status=Status.FAILED)
        .annotate(latest_id=Subquery(latest.values("id")[:1]))
        .filter(id=F("latest_id"))
        .exists()
    )
    if not still_failing:
        alert_resolve(kind=ALERT_KIND, subject=_subject(organiser_id))
