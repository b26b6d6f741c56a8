"""Products and Prices on a connected account, through the official SDK.

Every call acts as the organiser's account (`Stripe-Account`, the SDK's
`stripe_account` option) with the platform's keys, carries an idempotency key, and
first takes a slot of the limiter all workers share (`STRIPE_CATALOG_RATE_LIMIT`,
counted in Redis; with Redis down each process spends its share of it). The SDK
never retries (`max_network_retries=0`): the outbox does, with backoff. Like a
provider module this never touches the ORM.
"""

from __future__ import annotations

import functools
from typing import Any

import stripe
from django.conf import settings

from payments.accounts import platform_stripe_credentials

# The Stripe provider's plumbing: one HTTP client per process, one error mapping.
from payments.providers.stripe import _http_client, _provider_error, _to_dict
from ticketing.lib.ratelimit import RateLimit, RateLimiter

# Longest a push waits for a slot of the shared limit before it is retried later.
RATE_LIMIT_MAX_WAIT = 10.0


class StripeObjectMissing(Exception):  # noqa: N818 - a fact about Stripe's side
    """Stripe answered 404: the Product or Price is not on that account."""


@functools.cache
def _limiter(text: str) -> RateLimiter:
    return RateLimiter(
        "stripe:catalog", RateLimit.parse(text), max_wait=RATE_LIMIT_MAX_WAIT
    )


def limiter() -> RateLimiter:
    return _limiter(settings.STRIPE_CATALOG_RATE_LIMIT)


@functools.cache
def _sdk(secret_key: str, api_base: str, timeout: tuple[float, float]):
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base},
        max_network_retries=0,
        http_client=_http_client(timeout),
    )


class CatalogClient:
    """Raises StripeObjectMissing (404), ProviderUnavailable (network, 429, 5xx,
    the shared limit full for too long; with `retry_after`), ProviderAuthError or
    ProviderRejected."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.sdk = _sdk(
            platform_stripe_credentials().secret_key,
            settings.STRIPE_API_BASE,
            tuple(settings.PAYMENT_HTTP_TIMEOUT),
        )

    def _call(self, method, *args, key: str, params: dict[str, Any]) -> dict:
        limiter().acquire()
        options = {"stripe_account": self.account_id, "idempotency_key": key}
        try:
            return _to_dict(method(*args, params=params, options=options))
        except stripe.StripeError as exc:
            # A Price for a Product gone from the account is refused with 400
            # `resource_missing` on `product`: the Product is missing all the same.
            product_gone = getattr(exc, "code", None) == "resource_missing" and (
                getattr(exc, "param", None) == "product"
            )
            if exc.http_status == 404 or product_gone:
                raise StripeObjectMissing(str(exc.user_message or exc)) from exc
            raise _provider_error(exc) from exc

    def product_create(self, params: dict[str, Any], *, key: str) -> dict:
        return self._call(self.sdk.v1.products.create, key=key, params=params)

    def product_update(self, product_id: str, params: dict, *, key: str) -> dict:
        return self._call(
            self.sdk.v1.products.update, product_id, key=key, params=params
        )

    def price_create(self, params: dict[str, Any], *, key: str) -> dict:
        return self._call(self.sdk.v1.prices.create, key=key, params=params)

    def price_update(self, price_id: str, params: dict, *, key: str) -> dict:
        return self._call(self.sdk.v1.prices.update, price_id, key=key, params=params)
