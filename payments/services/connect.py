"""Stripe Connect: an organiser's connected account, its onboarding and its state.

Stripe is called outside any transaction; what it answers is written in a short one.
The state is always read from Stripe (on return from onboarding and on each
`account.updated`), never taken from a webhook's payload, so deliveries arriving out
of order still leave the latest state.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Organiser
from ticketing.audit import audit_log

from ..accounts import platform_stripe_credentials
from ..exceptions import ConnectNotPossible
from ..models import ConnectedAccount
from ..providers.base import ProviderEvent
from ..providers.stripe_connect import ConnectAccountState, StripeConnectClient
from ..signals import connected_account_changed

logger = logging.getLogger(__name__)

_STATE_FIELDS = (
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements_due",
    "disabled_reason",
)


def _client() -> StripeConnectClient:
    return StripeConnectClient(platform_stripe_credentials())


def _state_of(account: ConnectedAccount) -> dict:
    return {name: getattr(account, name) for name in _STATE_FIELDS}


def _announce(account: ConnectedAccount) -> None:
    """Tell the layers above inside the change's transaction: what they write (the
    catalogue sync's outbox rows) commits with the change or not at all; sent after
    commit, a crash in between lost the catalogue's resync. A receiver's failure is
    logged, not raised (each writes in a savepoint of its own): the change is
    stored, and failing the webhook that made it would only retry a delivery that no
    longer changes anything."""
    for receiver, result in connected_account_changed.send_robust(
        sender=ConnectedAccount,
        organiser_id=account.organiser_id,
        account_id=account.account_id,
        charges_enabled=account.charges_enabled,
    ):
        if isinstance(result, Exception):
            logger.error(
                "connected_account_changed receiver %r failed",
                receiver,
                exc_info=result,
            )


def connected_account_link(
    *, organiser_id: int, account_id: str = "", actor=None
) -> ConnectedAccount:
    """ "Connect with Stripe": create the organiser's connected account, or adopt
    `account_id`, an account already connected to the platform (it is read from
    Stripe to prove it). An organiser already connected gets their account back.

    Account creation carries `connect-account:<organiser id>` as its idempotency
    key, so a retry after a lost answer does not make a second account. Raises
    ConnectNotPossible, ProviderNotConfigured (no platform keys) or ProviderError.
    """
    account_id = account_id.strip()
    existing = ConnectedAccount.objects.filter(organiser_id=organiser_id).first()
    if existing is not None:
        if account_id and account_id != existing.account_id:
            raise ConnectNotPossible(
                _("This organiser is already connected to %(account)s.")
                % {"account": existing.account_id}
            )
        return existing
    organiser = Organiser.objects.get(pk=organiser_id)
    client = _client()
    if account_id:
        state = client.retrieve_account(account_id)
    else:
        state = client.create_account(
            country=organiser.country,
            email=organiser.contact_email,
            business_name=organiser.name,
            metadata={"organiser": organiser.slug, "organiser_id": str(organiser.pk)},
            idempotency_key=f"connect-account:{organiser.pk}",
        )
    account = ConnectedAccount(organiser=organiser, account_id=state.account_id)
    _apply(account, state)
    account.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            account.save()
            audit_log(
                action="payments.connect.linked",
                obj=account,
                organiser_id=organiser_id,
                actor=actor,
                data={
                    "account": account.account_id,
                    "adopted": bool(account_id),
                    **_state_of(account),
                },
            )
            _announce(account)
    except IntegrityError:
        taken = ConnectedAccount.objects.filter(account_id=state.account_id).first()
        if taken is not None and taken.organiser_id != organiser_id:
            raise ConnectNotPossible(
                _("This Stripe account is connected to another organiser.")
            ) from None
        # Two clicks at once: the other one linked it.
        return ConnectedAccount.objects.get(organiser_id=organiser_id)
    return account


def connected_account_onboarding_url(
    *, account_pk: int, refresh_url: str, return_url: str
) -> str:
    """A fresh, single-use Stripe onboarding link for the account (make one on every
    visit: Stripe sends the organiser back to `refresh_url` when it went stale)."""
    account = ConnectedAccount.objects.get(pk=account_pk)
    link = _client().onboarding_link(
        account.account_id, refresh_url=refresh_url, return_url=return_url
    )
    return link.url


def connected_account_refresh(
    *,
    account_pk: int,
    source: str,
    event_at: dt.datetime | None = None,
    actor=None,
) -> ConnectedAccount:
    """Read the account's state from Stripe and store it; a change is audited and
    announced (`connected_account_changed`). `event_at` is the time of the
    `account.updated` that asked for it. Raises ProviderError (nothing changes)."""
    account = ConnectedAccount.objects.get(pk=account_pk)
    state = _client().retrieve_account(account.account_id)
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().get(pk=account_pk)
        before = _state_of(account)
        _apply(account, state)
        if event_at is not None and (
            account.last_account_updated_at is None
            or event_at > account.last_account_updated_at
        ):
            account.last_account_updated_at = event_at
        account.save(
            update_fields=[
                *_STATE_FIELDS,
                "state_checked_at",
                "last_account_updated_at",
                "updated_at",
            ]
        )
        after = _state_of(account)
        if after != before:
            audit_log(
                action="payments.connect.updated",
                obj=account,
                organiser_id=account.organiser_id,
                actor=actor or "stripe",
                data={"source": source, "before": before, "after": after},
            )
            _announce(account)
    return account


def connected_account_apply_event(event: ProviderEvent) -> int | None:
    """`account.updated`: read the account again. Returns its organiser, or None for
    an account that is not one of ours."""
    account_id = event.account or event.provider_reference
    account = ConnectedAccount.objects.filter(account_id=account_id).first()
    if account is None:
        logger.info("account.updated %s names no connected account of ours", account_id)
        return None
    connected_account_refresh(
        account_pk=account.pk, source="webhook", event_at=event.occurred_at
    )
    return account.organiser_id


def _apply(account: ConnectedAccount, state: ConnectAccountState) -> None:
    account.charges_enabled = state.charges_enabled
    account.payouts_enabled = state.payouts_enabled
    account.details_submitted = state.details_submitted
    account.requirements_due = state.requirements_due
    account.disabled_reason = state.disabled_reason[:100]
    account.state_checked_at = timezone.now()
