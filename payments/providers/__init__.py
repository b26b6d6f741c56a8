"""Payment providers, chosen by the identifier stored on accounts and payments."""

from __future__ import annotations

from importlib import import_module

from .base import Credentials, PaymentProvider

_PROVIDERS = {
    "stripe": "payments.providers.stripe.StripeProvider",
    "paystack": "payments.providers.paystack.provider.PaystackProvider",
    "free": "payments.providers.free.FreeProvider",
    "offline": "payments.providers.offline.OfflineProvider",
}


def provider_class(identifier: str) -> type[PaymentProvider]:
    try:
        module_path, class_name = _PROVIDERS[identifier].rsplit(".", 1)
    except KeyError:
        raise LookupError(f"Unknown payment provider {identifier!r}") from None
    return getattr(import_module(module_path), class_name)


def get_provider(identifier: str, credentials: Credentials) -> PaymentProvider:
    return provider_class(identifier)(credentials)
