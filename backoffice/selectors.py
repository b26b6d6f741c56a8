"""What the dashboard shows, read in a fixed number of queries whatever the number
of events: every figure is one grouped query, never one query per event or session.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from bookings.models import Booking
from events.models import Session
from events.selectors import sessions_upcoming
from integrations.models import Connection, ExternalOrder, Listing, OversoldAlert
from payments.alerting import REFUND_UNKNOWN_AFTER
from payments.models import Refund
from ticketing.models import Alert

from . import channels
from .scope import Scope
from .sold import counted_as_sold

UPCOMING_SESSIONS = 12
CHART_EVENTS = 6
CHART_DAYS = 30
ALERTS_SHOWN = 10


@dataclass
class Totals:
    currency: str
    tickets: dict[str, int]  # period ("today", "7d", "30d") -> tickets
    revenue: dict[str, int]  # period -> minor units


@dataclass
class SessionFill:
    session: Session
    by_channel: dict[str, int]
    held: int

    @property
    def taken(self) -> int:
        return sum(self.by_channel.values()) + self.held


@dataclass
class EventChart:
    event_id: int
    title: str
    days: list[dt.date]
    # day -> channel -> tickets
    by_day: dict[dt.date, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(day.values()) for day in self.by_day.values())


@dataclass
class Dashboard:
    totals: list[Totals]
    external_tickets: dict[str, int]
    sessions: list[SessionFill]
    charts: list[EventChart]
    alerts: dict[str, list]


PERIODS = ("today", "7d", "30d")


def _period_starts(now: dt.datetime, tz) -> dict[str, dt.datetime]:
    today = timezone.localtime(now, tz).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return {
        "today": today,
        "7d": today - dt.timedelta(days=6),
        "30d": today - dt.timedelta(days=CHART_DAYS - 1),
    }


def _totals(scope: Scope, starts) -> list[Totals]:
    # The sales report's figures for the same days: its tickets, and its gross
    # (paid, less the refunds of those sales). The refunds are summed in a query of
    # their own: as a subquery per booking they cost 105 ms at 100,000 bookings.
    aggregates = {}
    for period, start in starts.items():
        aggregates[f"t_{period}"] = Sum("quantity", filter=Q(confirmed_at__gte=start))
        aggregates[f"r_{period}"] = Sum(
            "total_minor", filter=Q(confirmed_at__gte=start)
        )
    rows = (
        scope.filter(Booking.objects.filter(counted_as_sold()), "organiser_id")
        .filter(confirmed_at__gte=starts["30d"])
        .values("currency")
        .annotate(**aggregates)
        .order_by("currency")
    )
    refunds = {
        row["payment__booking__currency"]: row
        for row in scope.filter(
            Refund.objects.filter(
                counted_as_sold("payment__booking__"),
                status=Refund.Status.SUCCEEDED,
                payment__booking__confirmed_at__gte=starts["30d"],
            ),
            "payment__booking__organiser_id",
        )
        .values("payment__booking__currency")
        .annotate(
            **{
                period: Sum(
                    "amount_minor", filter=Q(payment__booking__confirmed_at__gte=start)
                )
                for period, start in starts.items()
            }
        )
        .order_by()
    }
    return [
        Totals(
            currency=row["currency"],
            tickets={p: row[f"t_{p}"] or 0 for p in PERIODS},
            revenue={
                p: (row[f"r_{p}"] or 0)
                - (refunds.get(row["currency"], {}).get(p) or 0)
                for p in PERIODS
            },
        )
        for row in rows
    ]


def _external_totals(scope: Scope, starts) -> dict[str, int]:
    row = scope.filter(
        ExternalOrder.objects.filter(
            status=ExternalOrder.Status.ACTIVE, placed_at__gte=starts["30d"]
        ),
        "listing__connection__organiser_id",
    ).aggregate(
        **{
            period: Sum("quantity", filter=Q(placed_at__gte=start))
            for period, start in starts.items()
        }
    )
    return {period: row[period] or 0 for period in PERIODS}


def _own_sold(channel: str) -> Q:
    return Q(
        bookings__status=Booking.Status.CONFIRMED,
        bookings__channel=channel,
        bookings__is_complimentary=False,
    )


def _sessions(scope: Scope, now) -> list[SessionFill]:
    # The next sessions first, then their sums: summing every upcoming session's
    # bookings before the LIMIT cost more than the rest of the page.
    upcoming = scope.filter(
        sessions_upcoming(now=now), "event__organiser_id"
    ).order_by("starts_at", "pk")[:UPCOMING_SESSIONS]
    sessions = list(
        Session.objects.filter(pk__in=Subquery(upcoming.values("pk")))
        .select_related("event", "venue")
        .annotate(
            s_web=Sum("bookings__quantity", filter=_own_sold(channels.WEB)),
            s_api=Sum("bookings__quantity", filter=_own_sold(channels.API)),
            s_admin=Sum("bookings__quantity", filter=_own_sold(channels.ADMIN)),
            s_comp=Sum(
                "bookings__quantity",
                filter=Q(
                    bookings__status=Booking.Status.CONFIRMED,
                    bookings__is_complimentary=True,
                ),
            ),
            s_held=Sum(
                "bookings__quantity",
                filter=Q(
                    bookings__status=Booking.Status.PENDING,
                    bookings__expires_at__gt=now,
                ),
            ),
        )
        .order_by("starts_at", "pk")
    )
    external = defaultdict(dict)
    for row in (
        Listing.objects.filter(session__in=[s.pk for s in sessions])
        .values("session_id", "connection__platform")
        .annotate(sold=Sum("places_sold"))
    ):
        external[row["session_id"]][row["connection__platform"]] = row["sold"] or 0
    fills = []
    for session in sessions:
        by_channel = {
            key: getattr(session, f"s_{key}") or 0 for key in channels.OWN
        } | {key: external[session.pk].get(key, 0) for key in channels.PLATFORMS}
        fills.append(SessionFill(session, by_channel, session.s_held or 0))
    return fills


def _charts(scope: Scope, starts, now, tz) -> list[EventChart]:
    start = starts["30d"]
    days = [(start + dt.timedelta(days=offset)).date() for offset in range(CHART_DAYS)]
    charts: dict[int, EventChart] = {}

    def chart(event_id, title):
        if event_id not in charts:
            charts[event_id] = EventChart(event_id, title, days)
        return charts[event_id]

    own = (
        scope.filter(
            Booking.objects.filter(counted_as_sold(), confirmed_at__gte=start),
            "organiser_id",
        )
        .annotate(day=TruncDate("confirmed_at", tzinfo=tz))
        .values("event_id", "event__title", "day", "channel", "is_complimentary")
        .annotate(tickets=Sum("quantity"))
        .order_by()
    )
    for row in own:
        key = channels.own_channel(row["channel"], row["is_complimentary"])
        day = chart(row["event_id"], row["event__title"]).by_day.setdefault(
            row["day"], {}
        )
        day[key] = day.get(key, 0) + row["tickets"]
    external = (
        scope.filter(
            ExternalOrder.objects.filter(
                status=ExternalOrder.Status.ACTIVE, placed_at__gte=start
            ),
            "listing__connection__organiser_id",
        )
        .annotate(day=TruncDate("placed_at", tzinfo=tz))
        .values(
            "listing__session__event_id",
            "listing__session__event__title",
            "day",
            "listing__connection__platform",
        )
        .annotate(tickets=Sum("quantity"))
        .order_by()
    )
    for row in external:
        day = chart(
            row["listing__session__event_id"], row["listing__session__event__title"]
        ).by_day.setdefault(row["day"], {})
        platform = row["listing__connection__platform"]
        day[platform] = day.get(platform, 0) + row["tickets"]
    ranked = sorted(charts.values(), key=lambda c: (-c.total, c.title))
    return ranked[:CHART_EVENTS]


def _alerts(scope: Scope, now: dt.datetime) -> dict[str, list]:
    return {
        "oversold": list(
            scope.filter(
                OversoldAlert.objects.filter(resolved_at__isnull=True),
                "session__event__organiser_id",
            ).select_related("session__event", "session__venue")[:ALERTS_SHOWN]
        ),
        "syncs": list(
            scope.filter(
                Connection.objects.filter(is_enabled=True).filter(
                    ~Q(last_error="") | Q(auth_failed_at__isnull=False)
                ),
                "organiser_id",
            ).order_by("-last_sync_at")[:ALERTS_SHOWN]
        ),
        # Pending with an error, or for longer than the refund_unknown alert
        # waits: every refund that alert mails about is shown here too.
        "refunds": list(
            scope.filter(
                Refund.objects.filter(status=Refund.Status.PENDING).filter(
                    ~Q(last_error="") | Q(created_at__lt=now - REFUND_UNKNOWN_AFTER)
                ),
                "organiser_id",
            ).select_related("payment__booking")[:ALERTS_SHOWN]
        ),
        "bookings": list(
            scope.filter(
                Booking.objects.filter(needs_attention=True), "organiser_id"
            ).only("pk", "reference", "buyer_name", "created_at")[:ALERTS_SHOWN]
        ),
        # Open alerts (ticketing.alerts) of the kinds not listed above from their
        # own tables: work out of retries, a stuck backlog (superusers only).
        "other": list(
            scope.filter(
                Alert.objects.filter(resolved_at__isnull=True).exclude(
                    kind__in=[
                        Alert.Kind.OVERSOLD,
                        Alert.Kind.SYNC_FAILING,
                        Alert.Kind.REFUND_UNKNOWN,
                    ]
                ),
                "organiser_id",
            ).order_by("-last_seen_at")[:ALERTS_SHOWN]
        ),
    }


def dashboard_get(scope: Scope, now: dt.datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    tz = scope.tzinfo
    starts = _period_starts(now, tz)
    return Dashboard(
        totals=_totals(scope, starts),
        external_tickets=_external_totals(scope, starts),
        sessions=_sessions(scope, now),
        charts=_charts(scope, starts, now, tz),
        alerts=_alerts(scope, now),
    )
