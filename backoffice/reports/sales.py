"""The sales report: what was sold in the period, grouped by event, date, ticket
type, channel, platform or discount code, from our own booking lines (with their
share of refunds and of the tax that credit notes took back) and the imported
platform orders. Apart from the other reports because its columns, groupings and
notes are its own; the package docstring explains what each column counts.
"""

from __future__ import annotations

from collections import defaultdict

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from bookings.models import BookingLine
from events.models import Session
from payments.models import Refund

from .. import channels
from ..refund_tax import refunds_share
from ..scope import Scope
from ..sold import counted_as_sold
from ..tables import INT, MONEY, Column, Table
from .filters import Filters, _external_orders

GROUPS = {
    "event": _lazy("Event"),
    "session": _lazy("Date"),
    "ticket_type": _lazy("Ticket type"),
    "channel": _lazy("Channel"),
    "platform": _lazy("Platform"),
    "code": _lazy("Discount code"),
}
THIS_SITE = "here"


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
