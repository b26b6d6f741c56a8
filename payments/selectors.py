"""Reads other apps rely on."""

from __future__ import annotations

from .models import ConnectedAccount


def connected_account_id(organiser_id: int) -> str | None:
    """The organiser's Stripe connected account (acct_…), whether or not Stripe lets
    it take charges yet, or None: where the catalogue sync puts the organiser's
    Products and Prices (with `Stripe-Account`)."""
    return (
        ConnectedAccount.objects.filter(organiser_id=organiser_id)
        .values_list("account_id", flat=True)
        .first()
    )
