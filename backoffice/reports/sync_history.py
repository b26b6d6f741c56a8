"""The external platform sales history: per day and platform, the sync runs and the
orders they first imported. Apart because it reports on the syncs themselves
(when orders arrived), not on sales or money.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from integrations.models import ExternalOrder, SyncRun

from .. import channels
from ..scope import Scope
from ..tables import INT, Column, Table
from .filters import Filters


def sync_history_report(scope: Scope, filters: Filters) -> Table:
    """Per day and platform: the sync runs, and what they added. Orders keep the
    time they were first imported, so later syncs never rewrite this history."""
    tz = scope.tzinfo
    runs = scope.filter(
        SyncRun.objects.filter(
            started_at__gte=filters.start, started_at__lt=filters.end
        ),
        "connection__organiser_id",
    )
    orders = scope.filter(
        ExternalOrder.objects.filter(
            imported_at__gte=filters.start, imported_at__lt=filters.end
        ),
        "listing__connection__organiser_id",
    )
    if filters.channel in channels.PLATFORMS:
        runs = runs.filter(platform=filters.channel)
        orders = orders.filter(listing__connection__platform=filters.channel)
    if filters.event_id:
        orders = orders.filter(listing__session__event_id=filters.event_id)
    if filters.session_id:
        orders = orders.filter(listing__session_id=filters.session_id)
    rows: dict[tuple, dict] = {}

    def row_for(day, platform):
        return rows.setdefault(
            (day, platform),
            {
                "day": day.isoformat(),
                "platform": str(channels.LABELS.get(platform, platform)),
                "currency": "",
                "runs": 0,
                "failed": 0,
                "orders": 0,
                "tickets": 0,
                "cancelled": 0,
            },
        )

    for run in (
        runs.annotate(day=TruncDate("started_at", tzinfo=tz))
        .values("day", "platform")
        .annotate(
            count=Count("pk"),
            failed=Count("pk", filter=Q(status=SyncRun.Status.FAILED)),
        )
    ):
        row = row_for(run["day"], run["platform"])
        row["runs"] += run["count"]
        row["failed"] += run["failed"]
    for order in (
        orders.annotate(day=TruncDate("imported_at", tzinfo=tz))
        .values("day", "listing__connection__platform")
        .annotate(
            count=Count("pk"),
            tickets=Sum("quantity", filter=Q(status=ExternalOrder.Status.ACTIVE)),
            cancelled=Count("pk", filter=Q(status=ExternalOrder.Status.CANCELLED)),
        )
    ):
        row = row_for(order["day"], order["listing__connection__platform"])
        row["orders"] += order["count"]
        row["tickets"] += order["tickets"] or 0
        row["cancelled"] += order["cancelled"]
    table = Table(
        title=_("External platform sales history"),
        columns=[
            Column("day", _("Day")),
            Column("platform", _("Platform")),
            Column("runs", _("Sync runs"), INT),
            Column("failed", _("failed"), INT),
            Column("orders", _("Orders first imported"), INT),
            Column("tickets", _("Tickets in them still active"), INT),
            Column("cancelled", _("of those orders cancelled since"), INT),
        ],
        rows=[rows[key] for key in sorted(rows, reverse=True)],
        notes=[
            _(
                "Each order is counted on the day a sync first imported it; later "
                "syncs update its status but not that day."
            )
        ],
    )
    table.totals_by("day", _("Total"))
    return table
