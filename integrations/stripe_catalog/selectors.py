"""Reads of the catalogue sync: its health per organiser."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import CatalogSyncLog

Status = CatalogSyncLog.Status
HEALTH_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class CatalogHealth:
    organiser_id: int | None
    organiser_name: str
    successes: int  # in the last 24 h
    failures: int  # in the last 24 h
    skipped: int  # in the last 24 h
    last_sync_at: dt.datetime | None  # the last successful push, ever
    last_failure_at: dt.datetime | None


def catalog_health(
    organiser_ids: list[int] | None = None, *, now: dt.datetime | None = None
) -> tuple[CatalogHealth, list[CatalogHealth]]:
    """(overall, per organiser) for the organisers given (None: all)."""
    since = (now or timezone.now()) - HEALTH_WINDOW
    logs = CatalogSyncLog.objects.all()
    if organiser_ids is not None:
        logs = logs.filter(organiser_id__in=organiser_ids)
    recent = Q(created_at__gte=since)
    figures = {
        "successes": Count("id", filter=recent & Q(status=Status.SUCCESS)),
        "failures": Count("id", filter=recent & Q(status=Status.FAILED)),
        "skipped": Count("id", filter=recent & Q(status=Status.SKIPPED)),
        "last_sync_at": Max("created_at", filter=Q(status=Status.SUCCESS)),
        "last_failure_at": Max("created_at", filter=Q(status=Status.FAILED)),
    }
    rows = [
        CatalogHealth(
            organiser_id=row.pop("organiser_id"),
            organiser_name=row.pop("organiser__name") or "—",
            **row,
        )
        for row in logs.values("organiser_id", "organiser__name")
        .annotate(**figures)
        .order_by("organiser__name")
    ]
    total = logs.aggregate(**figures)
    overall = CatalogHealth(organiser_id=None, organiser_name="", **total)
    return overall, rows
