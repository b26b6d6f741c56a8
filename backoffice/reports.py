"""The back office's reports: sales, payouts to be, external platform sales history.

Each returns a `Table`. Money is summed per currency, never across currencies.

Sales count what was sold in the period (bookings by their confirmation time; one
cancelled since counts only if a provider took its money, see `sold.py`): "at list
price" is before discounts; gross is
what was paid, tax included, less refunds; refunds are the succeeded refunds of
those bookings (a booking's refund is shared among its lines in proportion to
their totals, to the cent, as its credit note shares it), so that every column
sums to its total. Comps count as tickets, with no money. Platform sales are the
orders the syncs imported, at the totals the platform reported (a platform that
reports none gives tickets only).
Provider fees are not reported by any provider integration yet: the column says so
rather than showing zero. Tax is each line's tax as priced (the invoice's) less
the tax its refunds' credit notes take back (`refund_tax.py`); net = gross - tax.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext

from bookings.models import Booking, BookingLine
from events.models import Session
from integrations.models import ExternalOrder, SyncRun
from payments.models import Payment, Provider, Refund

from . import channels
from .refund_tax import refunds_share
from .scope import Scope
from .sold import counted_as_sold
from .tables import INT, MONEY, Column, Table

GROUPS = {
    "event": _lazy("Event"),
    "session": _lazy("Date"),
    "ticket_type": _lazy("Ticket type"),
    "channel": _lazy("Channel"),
    "platform": _lazy("Platform"),
    "code": _lazy("Discount code"),
}
THIS_SITE = "here"


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


def _session_labels(session_ids) -> dict[int, str]:
    return {
        session.pk: str(session)
        for session in Session.objects.filter(pk__in=set(session_ids)).select_related(
            "event", "venue"
        )
    }


def _own_lines(scope: Scope, filters: Filters) -> list[dict]:
    lines = scope.filter(
        BookingLine.objects.filter(
            booking__confirmed_at__gte=filters.start,
            booking__confirmed_at__lt=filters.end,
        ).filter(counted_as_sold("booking__")),
        "booking__organiser_id",
    )
    if filters.event_id:
        lines = lines.filter(booking__event_id=filters.event_id)
    if filters.session_id:
        lines = lines.filter(booking__session_id=filters.session_id)
    if filters.channel == channels.COMP:
        lines = lines.filter(booking__is_complimentary=True)
    elif filters.channel in (channels.WEB, channels.API, channels.ADMIN):
        lines = lines.filter(
            booking__channel=filters.channel, booking__is_complimentary=False
        )
    elif filters.channel:
        return []
    rows = list(
        lines.values(
            "booking_id",
            "ticket_type_id",
            "ticket_type__name",
            "quantity",
            "subtotal_minor",
            "discount_minor",
            "total_minor",
            "tax_minor",
            "tax_percent",
            "booking__event_id",
            "booking__event__title",
            "booking__session_id",
            "booking__channel",
            "booking__is_complimentary",
            "booking__currency",
            "booking__discount_code__code",
        ).order_by("booking_id", "id")
    )
    refunds = defaultdict(list)
    for booking_id, amount in (
        Refund.objects.filter(
            status=Refund.Status.SUCCEEDED,
            payment__booking_id__in={row["booking_id"] for row in rows},
        )
        .order_by("created_at", "pk")
        .values_list("payment__booking_id", "amount_minor")
    ):
        refunds[booking_id].append(amount)
    by_booking = defaultdict(list)
    for row in rows:
        by_booking[row["booking_id"]].append(row)
    for booking_id, booking_lines in by_booking.items():
        refunds_share(booking_lines, refunds.get(booking_id, []))
    return rows


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


# Module-level labels are lazy: translated in the request's language, not in the
# language active when the module happened to be imported.
SALES_COLUMNS = [
    Column("tickets", _lazy("Tickets"), INT),
    Column("comps", _lazy("of which comps"), INT),
    Column("unpriced", _lazy("of which no amount reported"), INT),
    Column("list", _lazy("At list price"), MONEY),
    Column("discounts", _lazy("Discounts"), MONEY),
    Column("refunds", _lazy("Refunds"), MONEY),
    Column("gross", _lazy("Gross (tax included)"), MONEY),
    Column("tax", _lazy("Tax"), MONEY),
    Column("net", _lazy("Net (before tax)"), MONEY),
    Column("fees", _lazy("Provider fees")),
]
MONEY_KEYS = [column.key for column in SALES_COLUMNS if column.kind == MONEY]


def sales_report(scope: Scope, filters: Filters, group: str) -> Table:
    lines = _own_lines(scope, filters)
    orders = _external_orders(scope, filters)
    labels = _session_labels(
        [line["booking__session_id"] for line in lines]
        + [order["listing__session_id"] for order in orders]
    )
    rows: dict[tuple, dict] = {}

    def row_for(key, label, currency):
        return rows.setdefault(
            (key, currency),
            {
                "group": label,
                "currency": currency,
                "tickets": 0,
                "comps": 0,
                "unpriced": 0,
                "list": 0,
                "discounts": 0,
                "refunds": 0,
                "gross": 0,
                "tax": 0,
                "net": 0,
                "fees": "—",
            },
        )

    priced: set[tuple] = set()  # rows with at least one amount in them
    for line in lines:
        channel = channels.own_channel(
            line["booking__channel"], line["booking__is_complimentary"]
        )
        key, label = {
            "event": (line["booking__event_id"], line["booking__event__title"]),
            "session": (
                line["booking__session_id"],
                labels[line["booking__session_id"]],
            ),
            "ticket_type": (
                line["ticket_type_id"],
                f"{line['booking__event__title']} · {line['ticket_type__name']}",
            ),
            "channel": (channel, str(channels.LABELS[channel])),
            "platform": (THIS_SITE, _("This site")),
            "code": (
                line["booking__discount_code__code"] or "",
                line["booking__discount_code__code"] or _("(no code)"),
            ),
        }[group]
        row = row_for(key, label, line["booking__currency"])
        priced.add((key, line["booking__currency"]))
        row["tickets"] += line["quantity"]
        row["comps"] += line["quantity"] if channel == channels.COMP else 0
        row["list"] += line["subtotal_minor"]
        row["discounts"] += line["discount_minor"]
        row["refunds"] += line["refunds_minor"]
        gross = line["total_minor"] - line["refunds_minor"]
        tax = line["tax_minor"] - line["refunded_tax_minor"]
        row["gross"] += gross
        row["tax"] += tax
        row["net"] += gross - tax
    for order in orders:
        platform = order["listing__connection__platform"]
        key, label = {
            "event": (
                order["listing__session__event_id"],
                order["listing__session__event__title"],
            ),
            "session": (
                order["listing__session_id"],
                labels[order["listing__session_id"]],
            ),
            "ticket_type": (
                f"{platform}-{order['listing__session__event_id']}",
                f"{order['listing__session__event__title']} · "
                f"{channels.LABELS[platform]}",
            ),
            "channel": (platform, str(channels.LABELS[platform])),
            "platform": (platform, str(channels.LABELS[platform])),
            "code": (platform, str(channels.LABELS[platform])),
        }[group]
        currency = order["currency"] or order["listing__session__event__currency"]
        row = row_for(key, label, currency)
        row["tickets"] += order["quantity"]
        if order["total_minor"] is None:
            # Not a zero: the platform did not say. Counted apart, never as money.
            row["unpriced"] += order["quantity"]
            continue
        priced.add((key, currency))
        # Platforms report a total only: it counts with no tax (see the notes).
        row["list"] += order["total_minor"]
        row["gross"] += order["total_minor"]
        row["net"] += order["total_minor"]
    for key, row in rows.items():
        if key not in priced:
            for column in MONEY_KEYS:
                row[column] = None
    table = Table(
        title=_("Sales by %(group)s") % {"group": GROUPS[group].lower()},
        columns=[Column("group", GROUPS[group]), *SALES_COLUMNS],
        rows=sorted(rows.values(), key=lambda r: (r["currency"], str(r["group"]))),
        notes=[
            _(
                "Sales confirmed in the period; refunds are those of these sales. "
                "Gross is what buyers paid, tax included, less refunds; tax is the "
                "tax on the invoices less the tax on their credit notes; net = "
                "gross − tax. With tax-inclusive prices, gross = at list price − "
                "discounts − refunds; with tax-exclusive prices the tax is added."
            ),
            _(
                "A sale cancelled since still counts when a payment provider took "
                "its money (its refunds show); a cancelled offline sale or comp "
                "does not count."
            ),
            _(
                "Platform sales are the orders imported from Billetweb, Humanitix "
                "and Eventbrite, at the totals they report; they report no tax, so "
                "they count in gross and net with none."
            ),
            _("Provider fees: no provider reports them to us yet."),
            *_unpriced_notes(rows.values()),
        ],
    )
    table.totals_by("group", _("Total"))
    for total in table.totals:
        total["fees"] = "—"
        if total.get("unpriced"):
            total["group"] = _("Total (without the amounts not reported)")
    return table


def _unpriced_notes(rows) -> list[str]:
    if not any(row["unpriced"] for row in rows):
        return []
    return [
        _(
            "Some platform orders came without amounts: the platform did not report "
            "them. Their tickets count; their money is shown as — and every amount "
            "and total leaves it out."
        )
    ]


def payouts_report(scope: Scope, filters: Filters) -> Table:
    """What each provider collected in the period and should pay out (collected
    less refunded), and what the organiser collected itself or the platforms did."""
    payments = scope.filter(
        Payment.objects.filter(
            status=Payment.Status.SUCCEEDED,
            succeeded_at__gte=filters.start,
            succeeded_at__lt=filters.end,
        ),
        "organiser_id",
    )
    offline = scope.filter(
        Booking.objects.filter(
            channel=Booking.Channel.ADMIN,
            is_complimentary=False,
            confirmed_at__gte=filters.start,
            confirmed_at__lt=filters.end,
        ).filter(counted_as_sold()),
        "organiser_id",
    )
    if filters.event_id:
        payments = payments.filter(booking__event_id=filters.event_id)
        offline = offline.filter(event_id=filters.event_id)
    if filters.session_id:
        payments = payments.filter(booking__session_id=filters.session_id)
        offline = offline.filter(session_id=filters.session_id)
    rows = []
    fees = platform_fees_kept(payments)
    for row in (
        payments.values("provider", "currency")
        .annotate(
            count=Count("pk"),
            collected=Sum("amount_minor"),
            refunded=Sum("refunded_minor"),
        )
        .order_by("provider", "currency")
    ):
        fee = fees.get((row["provider"], row["currency"]), 0)
        rows.append(
            {
                "provider": str(Provider(row["provider"]).label),
                "currency": row["currency"],
                "payments": row["count"],
                "collected": row["collected"],
                "refunded": row["refunded"],
                "platform_fee": fee,
                "payout": row["collected"] - row["refunded"] - fee,
                "paid_by": _("the provider"),
            }
        )
    for row in (
        offline.values("currency")
        .annotate(count=Count("pk"), collected=Sum("total_minor"))
        .order_by("currency")
    ):
        rows.append(
            {
                "provider": _("Back office (paid offline)"),
                "currency": row["currency"],
                "payments": row["count"],
                "collected": row["collected"],
                "refunded": 0,
                "platform_fee": 0,
                "payout": row["collected"],
                "paid_by": _("already with you"),
            }
        )
    platform_rows = _platform_totals(scope, filters)
    rows.extend(platform_rows)
    unreported = any(row["unreported"] for row in platform_rows)
    table = Table(
        title=_("Payouts to be, per provider"),
        columns=[
            Column("provider", _("Provider")),
            Column("payments", _("Payments"), INT),
            Column("collected", _("Collected"), MONEY),
            Column("refunded", _("Refunded"), MONEY),
            Column("platform_fee", _("Platform fee"), MONEY),
            Column("payout", _("To be paid out"), MONEY),
            Column("paid_by", _("Paid out by")),
        ],
        rows=rows,
        notes=[
            _(
                "Payments succeeded in the period; refunds are those made on them so "
                "far. The platform fee is what the platform keeps from Stripe Connect "
                "charges, less what refunds gave back; provider fees are not "
                "reported to us yet, so payouts are before them."
            ),
            *(
                [
                    _(
                        "Some platform orders came without amounts: the platform "
                        "did not report them. They are shown as — and the totals "
                        "leave them out."
                    )
                ]
                if unreported
                else []
            ),
        ],
    )
    table.totals_by("provider", _("Total"))
    for total in table.totals:
        if any(
            row["unreported"] and row["currency"] == total["currency"]
            for row in platform_rows
        ):
            total["provider"] = _("Total (without the amounts not reported)")
    return table


def platform_fees_kept(payments) -> dict[tuple[str, str], int]:
    """The platform's fee on destination charges (Stripe Connect), per provider and
    currency, less what refunds gave back. A refund that returns the fee returns its
    share of it, rounded down; the refund that completes a payment's refunds returns
    the rest (as `payments/tests/fakes/stripe_connect.py` plays Stripe)."""
    charged = list(
        payments.filter(application_fee_minor__gt=0).values(
            "pk", "provider", "currency", "amount_minor", "application_fee_minor"
        )
    )
    returned = defaultdict(list)
    for refund in Refund.objects.filter(
        payment_id__in=[payment["pk"] for payment in charged],
        status=Refund.Status.SUCCEEDED,
        refunds_application_fee=True,
    ).values("payment_id", "amount_minor"):
        returned[refund["payment_id"]].append(refund["amount_minor"])
    kept: dict[tuple[str, str], int] = defaultdict(int)
    for payment in charged:
        fee, amount = payment["application_fee_minor"], payment["amount_minor"]
        refunds = returned.get(payment["pk"], [])
        given_back = (
            fee
            if sum(refunds) >= amount
            else sum(fee * part // amount for part in refunds)
        )
        kept[(payment["provider"], payment["currency"])] += fee - given_back
    return dict(kept)


def _platform_totals(scope: Scope, filters: Filters) -> list[dict]:
    orders = _external_orders(scope, Filters(**{**filters.__dict__, "channel": ""}))
    totals: dict[tuple, dict] = {}
    for order in orders:
        platform = order["listing__connection__platform"]
        currency = order["currency"] or order["listing__session__event__currency"]
        row = totals.setdefault(
            (platform, currency),
            {
                "provider": str(channels.LABELS[platform]),
                "currency": currency,
                "payments": 0,
                "collected": 0,
                "refunded": 0,
                "platform_fee": 0,
                "payout": 0,
                "paid_by": _("the platform"),
                "unreported": 0,
            },
        )
        row["payments"] += 1
        if order["total_minor"] is None:
            row["unreported"] += 1  # the platform did not say: not a zero
            continue
        row["collected"] += order["total_minor"]
        row["payout"] += order["total_minor"]
    rows = [totals[key] for key in sorted(totals)]
    for row in rows:
        unreported = row["unreported"]
        if unreported == row["payments"]:
            row["collected"] = row["payout"] = None
        if unreported:
            row["provider"] = ngettext(
                "%(platform)s (%(count)s order with no amount reported)",
                "%(platform)s (%(count)s orders with no amount reported)",
                unreported,
            ) % {"platform": row["provider"], "count": unreported}
    return rows


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
