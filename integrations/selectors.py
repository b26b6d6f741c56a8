"""Reads of platform connections shared by the partner API and the admin."""

from __future__ import annotations

from .models import Connection, SyncRun


def organiser_connection(organiser_id: int, platform: str) -> Connection | None:
    return Connection.objects.filter(
        organiser_id=organiser_id, platform=platform
    ).first()


def organiser_sync_run(organiser_id: int, platform: str, run_id: int) -> SyncRun:
    """A run of the organiser's connection to `platform`; raises
    `SyncRun.DoesNotExist` for another organiser's, another platform's or none."""
    return SyncRun.objects.get(
        pk=run_id,
        connection__organiser_id=organiser_id,
        connection__platform=platform,
    )


def connection_latest_run(connection: Connection) -> SyncRun | None:
    """The running run if there is one, else the last one."""
    runs = connection.runs.order_by("-started_at", "-pk")
    return runs.filter(status=SyncRun.Status.RUNNING).first() or runs.first()
