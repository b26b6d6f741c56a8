"""Whose keys to use: the organiser's own account, else the project-wide settings."""

from __future__ import annotations

from django.conf import settings

from .exceptions import ProviderNotConfigured
from .models import Provider, ProviderAccount
from .providers import get_provider
from .providers.base import Credentials, PaymentProvider


def _settings_credentials(provider: str) -> Credentials | None:
    if provider == Provider.STRIPE and settings.STRIPE_SECRET_KEY:
        return Credentials(
            secret_key=settings.STRIPE_SECRET_KEY,
            public_key=settings.STRIPE_PUBLISHABLE_KEY,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        )
    if provider == Provider.PAYSTACK and settings.PAYSTACK_SECRET_KEY:
        return Credentials(
            secret_key=settings.PAYSTACK_SECRET_KEY,
            public_key=settings.PAYSTACK_PUBLIC_KEY,
        )
    return None


def _account_credentials(account: ProviderAccount) -> Credentials:
    return Credentials(
        secret_key=account.secret_key,
        public_key=account.public_key,
        webhook_secret=account.webhook_secret,
    )


def credentials_for(organiser_id: int, provider: str) -> Credentials:
    if provider == Provider.OFFLINE:
        # No keys: bank details are not secrets, and a payment already open must stay
        # settleable and refundable after the organiser stops offering transfers.
        return Credentials(secret_key="")
    account = ProviderAccount.objects.filter(
        organiser_id=organiser_id, provider=provider
    ).first()
    if account is not None:
        if not account.is_enabled or not account.secret_key_encrypted:
            raise ProviderNotConfigured()
        return _account_credentials(account)
    if credentials := _settings_credentials(provider):
        return credentials
    raise ProviderNotConfigured()


def provider_for(organiser_id: int, provider: str) -> PaymentProvider:
    return get_provider(provider, credentials_for(organiser_id, provider))


def offline_account(organiser_id: int) -> ProviderAccount | None:
    """The organiser's enabled bank-transfer account, or None when not offered."""
    return ProviderAccount.objects.filter(
        organiser_id=organiser_id, provider=Provider.OFFLINE, is_enabled=True
    ).first()


def providers_offered(organiser_id: int) -> list[str]:
    """The providers a buyer of this organiser may pay with, in a stable order
    (bank transfer last, and only when the organiser enabled it)."""
    offered = []
    for provider in Provider.values:
        if provider == Provider.OFFLINE:
            if offline_account(organiser_id) is not None:
                offered.append(provider)
            continue
        try:
            credentials_for(organiser_id, provider)
        except ProviderNotConfigured:
            continue
        offered.append(provider)
    return offered


def webhook_verifiers(provider: str) -> list[tuple[int | None, PaymentProvider]]:
    """Every set of keys a delivery of `provider` may be signed with: the project's,
    then each organiser's own account. (organiser id or None, provider client)."""
    verifiers = []
    if credentials := _settings_credentials(provider):
        verifiers.append((None, get_provider(provider, credentials)))
    accounts = ProviderAccount.objects.filter(provider=provider, is_enabled=True)
    for account in accounts.exclude(secret_key_encrypted=""):
        verifiers.append(
            (
                account.organiser_id,
                get_provider(provider, _account_credentials(account)),
            )
        )
    return verifiers
