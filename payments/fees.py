"""The platform's fee on a Stripe Connect payment."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from ticketing.lib.money import percent_of, percent_to_basis_points

from .models import ConnectedAccount


def application_fee_minor(
    *, account: ConnectedAccount, amount_minor: int, tickets: int
) -> int:
    """Percentage of the amount (rounded half-up to a minor unit) plus a fixed part
    per ticket, from the organiser's own rule where set, else the platform's default
    (settings). Never more than the amount: Stripe refuses a fee above it."""
    percent = (
        account.fee_percent
        if account.fee_percent is not None
        else Decimal(str(settings.PLATFORM_FEE_PERCENT))
    )
    fixed = (
        account.fee_fixed_minor
        if account.fee_fixed_minor is not None
        else settings.PLATFORM_FEE_FIXED_MINOR
    )
    fee = percent_of(amount_minor, percent_to_basis_points(percent)) + fixed * tickets
    return max(0, min(fee, amount_minor))
