"""Whose keys to use, and where the money goes.

A new Stripe payment of an organiser whose connected account can take charges is a
destination charge with the platform's keys (`connect_destination`). Otherwise the
organiser's own keys are used, else the project-wide settings; but an organiser who
started Connect onboarding gets no project-wide Stripe until Stripe enables charges
(that money would stay on the platform's account). An existing payment is always
handled with the keys it was made with (`provider_for_payment`).
"""

from __future__ import annotations

from django.conf import settings

from .exceptions import ProviderNotConfigured
from .models import ConnectedAccount, Payment, Provider, ProviderAccount
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


def platform_stripe_credentials() -> Credentials:
    """The platform's own Stripe keys: Connect accounts and destination charges."""
    credentials = _settings_credentials(Provider.STRIPE)
    if credentials is None:
        raise ProviderNotConfigured()
    return credentials


def connect_destination(organiser_id: int, provider: str) -> ConnectedAccount | None:
    """The organiser's connected account when a new `provider` payment goes to it:
    Stripe only, and only while Stripe lets the account take charges."""
    if provider != Provider.STRIPE:
        return None
    return ConnectedAccount.objects.filter(
        organiser_id=organiser_id, charges_enabled=True
    ).first()


def credentials_for(organiser_id: int, provider: str) -> Credentials:
    """The keys a new payment of `provider` is made with (see the module's rule)."""
    if connect_destination(organiser_id, provider) is not None:
        return platform_stripe_credentials()
    onboarding = (
        provider == Provider.STRIPE
        and ConnectedAccount.objects.filter(organiser_id=organiser_id).exists()
    )
    return _organiser_credentials(organiser_id, provider, project_keys=not onboarding)


def _organiser_credentials(
    organiser_id: int, provider: str, *, project_keys: bool = True
) -> Credentials:
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
    if project_keys and (credentials := _settings_credentials(provider)):
        return credentials
    raise ProviderNotConfigured()


def provider_for(organiser_id: int, provider: str) -> PaymentProvider:
    """The provider a new payment is made with."""
    return get_provider(provider, credentials_for(organiser_id, provider))


def provider_for_payment(payment: Payment) -> PaymentProvider:
    """The provider an existing payment is verified, cancelled and refunded with: the
    keys it was made with, whatever the organiser has connected since."""
    if payment.destination_account:
        return get_provider(payment.provider, platform_stripe_credentials())
    return get_provider(
        payment.provider, _organiser_credentials(payment.organiser_id, payment.provider)
    )


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


def connect_webhook_verifiers() -> list[tuple[int | None, PaymentProvider]]:
    """The Connect endpoint's one key: its own signing secret, never an organiser's
    or the platform endpoint's (an event signed for another endpoint is refused)."""
    if not settings.STRIPE_CONNECT_WEBHOOK_SECRET:
        return []
    credentials = Credentials(
        secret_key=settings.STRIPE_SECRET_KEY,
        webhook_secret=settings.STRIPE_CONNECT_WEBHOOK_SECRET,
    )
    return [(None, get_provider(Provider.STRIPE, credentials))]
