"""The payouts report: per provider and currency, what was collected in the period
and is to be paid out (less refunds and the platform's Stripe Connect fee), what
the organiser took offline, and what the platforms collected. Apart from the sales
report because it counts payments by when they succeeded, not sales by when they
were confirmed.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bookings.models import Booking
from payments.models import Payment, Provider, Refund

from .. import channels
from ..scope import Scope
from ..sold import counted_as_sold
from ..tables import INT, MONEY, Column, Table
from .filters import Filters, _external_orders


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
