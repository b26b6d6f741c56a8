"""What every report is asked for and reads: `Filters` (the period, event, date and
channel chosen on the page, also used by the lists), the default period, and the
imported platform orders those filters select, which both the sales and the
payouts reports count. Apart so that each report module holds one report and
nothing imports one report to build another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from integrations.models import ExternalOrder

from .. import channels
from ..scope import Scope


@dataclass(frozen=True)
class Filters:
    start: dt.datetime
    end: dt.datetime  # exclusive
    event_id: int | None = None
    session_id: int | None = None
    channel: str = ""


def default_period(tz) -> tuple[dt.date, dt.date]:
    today = timezone.localtime(timezone.now(), tz).date()
    return today - dt.timedelta(days=29), today


def _external_orders(scope: Scope, filters: Filters) -> list[dict]:
    if filters.channel and filters.channel not in channels.PLATFORMS:
        return []
    orders = scope.filter(
        ExternalOrder.objects.filter(
            status=ExternalOrder.Status.ACTIVE,
            placed_at__gte=filters.start,
            placed_at__lt=filters.end,
        ),
        "listing__connection__organiser_id",
    )
    if filters.event_id:
        orders = orders.filter(listing__session__event_id=filters.event_id)
    if filters.session_id:
        orders = orders.filter(listing__session_id=filters.session_id)
    if filters.channel:
        orders = orders.filter(listing__connection__platform=filters.channel)
    return list(
        orders.values(
            "quantity",
            "total_minor",
            "currency",
            "listing__connection__platform",
            "listing__session_id",
            "listing__session__event_id",
            "listing__session__event__title",
            "listing__session__event__currency",
        )
    )
