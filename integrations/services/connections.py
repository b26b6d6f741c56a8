"""Creating and changing platform connections and listings, and their beat entries."""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from bookings.exceptions import InventoryBusy
from ticketing.audit import audit_log

from ..models import Connection, Listing
from . import cache as listing_cache
from .apply import session_external_refresh

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "integrations.tasks.connection_sync_scheduled"


def connection_schedule_save(connection: Connection) -> PeriodicTask:
    """Create or update the connection's beat entry (django-celery-beat): its
    interval follows `sync_interval_minutes`, and it runs only while enabled."""
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=connection.sync_interval_minutes, period=IntervalSchedule.MINUTES
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=connection.schedule_name,
        defaults={
            "task": SCHEDULED_TASK,
            "interval": interval,
            "args": json.dumps([connection.pk]),
            "enabled": connection.is_enabled,
            # A run that could not start within its interval is replaced by the next.
            "expire_seconds": connection.sync_interval_minutes * 60,
            "description": f"Sync {connection}",
        },
    )
    return task


def connection_save(
    *, connection: Connection, token: str | None = None, actor=None
) -> Connection:
    """Save a connection (a new `token` replaces the stored credentials, encrypted),
    keep its beat entry in step and write an audit row without any secret."""
    with transaction.atomic():
        created = connection.pk is None
        if token:
            connection.set_credentials(token)
        connection.full_clean()
        connection.save()
        connection_schedule_save(connection)
        audit_log(
            action="integrations.connection.created"
            if created
            else "integrations.connection.changed",
            obj=connection,
            organiser_id=connection.organiser_id,
            actor=actor,
            data={
                "platform": connection.platform,
                "enabled": connection.is_enabled,
                "interval_minutes": connection.sync_interval_minutes,
                "credentials_replaced": bool(token),
            },
        )
    return connection


def connection_delete(*, connection: Connection, actor=None) -> None:
    with transaction.atomic():
        audit_log(
            action="integrations.connection.deleted",
            obj=connection,
            organiser_id=connection.organiser_id,
            actor=actor,
            data={"platform": connection.platform},
        )
        PeriodicTask.objects.filter(name=connection.schedule_name).delete()
        connection.delete()


def sessions_external_refresh_later(session_ids) -> None:
    """After commit, sum the listings of these sessions again: a listing that was
    disabled, deleted or moved to another session must stop counting."""
    ids = sorted({session_id for session_id in session_ids if session_id})

    def refresh():
        for session_id in ids:
            try:
                session_external_refresh(session_id)
            except InventoryBusy:
                logger.warning("Session %s busy; its next sync sums it", session_id)

    transaction.on_commit(refresh)


def listing_save(*, listing: Listing, actor=None) -> Listing:
    with transaction.atomic():
        created = listing.pk is None
        previous_session_id = (
            None
            if created
            else Listing.objects.filter(pk=listing.pk)
            .values_list("session_id", flat=True)
            .first()
        )
        listing.full_clean()
        listing.save()
        audit_log(
            action="integrations.listing.created"
            if created
            else "integrations.listing.changed",
            obj=listing,
            organiser_id=listing.connection.organiser_id,
            actor=actor,
            data={
                "session": listing.session_id,
                "event": listing.external_event_id,
                "date": listing.external_date_id,
                "tickets": listing.external_ticket_ids,
            },
        )
        if not created:
            sessions_external_refresh_later([previous_session_id, listing.session_id])
    if not created:
        # Ids may have changed: the cached figures may describe another listing.
        listing_cache.listing_invalidate(listing.connection.platform, listing.pk)
    return listing
