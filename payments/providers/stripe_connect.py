"""Stripe Connect accounts, through the official SDK with the platform's keys.

The platform creates an organiser's connected account (Express dashboard: Stripe
collects what it needs, the platform pays Stripe's fees and bears losses, which is
what destination charges imply anyway), sends the organiser through a single-use
Account Link, and reads the account's state back. Like every provider module it
never touches the ORM, and never retries (tasks and people do).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings

from .base import Credentials

# The Stripe provider's plumbing: one HTTP client per process, one error mapping.
from .stripe import _http_client, _provider_error, _to_dict


@dataclass(frozen=True, slots=True)
class ConnectAccountState:
    """A connected account as Stripe reports it now."""

    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: list[str]  # currently due and past due, without repeats
    disabled_reason: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OnboardingLink:
    url: str
    expires_at: int  # unix time; a link is single-use and short-lived


def _call(method, *args, **kwargs) -> dict[str, Any]:
    try:
        return _to_dict(method(*args, **kwargs))
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc


def account_state(account: dict[str, Any]) -> ConnectAccountState:
    requirements = account.get("requirements") or {}
    due = [
        *(requirements.get("past_due") or []),
        *(requirements.get("currently_due") or []),
    ]
    return ConnectAccountState(
        account_id=account["id"],
        charges_enabled=bool(account.get("charges_enabled")),
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=list(dict.fromkeys(str(item) for item in due)),
        disabled_reason=str(requirements.get("disabled_reason") or ""),
        raw=account,
    )


class StripeConnectClient:
    """The platform's side of Connect. Every method raises ProviderUnavailable,
    ProviderAuthError or ProviderRejected (an unknown account, or one not connected
    to this platform, is ProviderRejected)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    @functools.cached_property
    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            self.credentials.secret_key,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,
            http_client=_http_client(tuple(settings.PAYMENT_HTTP_TIMEOUT)),
        )

    def create_account(
        self,
        *,
        country: str,
        email: str,
        business_name: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ConnectAccountState:
        """A new connected account that can take card payments and receive
        transfers once onboarding is done. Idempotent on `idempotency_key`."""
        params: dict[str, Any] = {
            "controller": {
                "stripe_dashboard": {"type": "express"},
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
            },
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
            "business_profile": {"name": business_name[:100]},
            "metadata": metadata,
        }
        if country:
            params["country"] = country.upper()
        if email:
            params["email"] = email
        account = _call(
            self.client.v1.accounts.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return account_state(account)

    def retrieve_account(self, account_id: str) -> ConnectAccountState:
        return account_state(_call(self.client.v1.accounts.retrieve, account_id))

    def onboarding_link(
        self, account_id: str, *, refresh_url: str, return_url: str
    ) -> OnboardingLink:
        """A fresh Account Link to Stripe's onboarding: make one on every visit (a
        link is single-use). Stripe sends the organiser to `refresh_url` when the
        link is stale and to `return_url` when they leave, finished or not."""
        link = _call(
            self.client.v1.account_links.create,
            params={
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
                "collection_options": {"fields": "currently_due"},
            },
        )
        return OnboardingLink(url=link["url"], expires_at=int(link["expires_at"]))
