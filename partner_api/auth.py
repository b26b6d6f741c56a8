"""Partner API authentication (`Authorization: Bearer tk_...`), scopes, throttling."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from partner_api.throttling import SlidingWindowThrottle
from ticketing.lib.clientip import client_bucket
from ticketing.lib.ratelimit import FailureLimiter, RateLimit

from .api_keys import ApiKey, key_prefix


class ApiKeyUser:
    """The authenticated principal of a request: a key, acting for its organiser."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.organiser_id = key.organiser_id

    @property
    def organiser(self):
        return self.key.organiser

    def __str__(self) -> str:
        return f"api key {self.key.name}"


auth_failures = FailureLimiter("api-auth")


def auth_failure_limit() -> RateLimit | None:
    return RateLimit.parse(settings.API_AUTH_FAILURE_RATE)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Failed authentications are counted per client address; past
    API_AUTH_FAILURE_RATE every request carrying a key from that address gets 429
    with Retry-After until the window ends, a right key included (else guessing
    would go on, only quieter)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(
            "latin-1", errors="replace"
        )
        if not header:
            return None
        client, limit = client_bucket(request), auth_failure_limit()
        scheme, _, plain = header.partition(" ")
        well_formed = scheme.lower() == self.keyword.lower() and plain.strip()
        # The failure count, the cached key and the key's throttle count in one
        # cache round trip.
        failures_key = auth_failures.current_key(client, limit)
        prefix = key_prefix(plain.strip()) if well_formed else None
        key, read = ApiKey.find_reading(
            plain.strip() if well_formed else "",
            [failures_key] if failures_key else [],
            read_many=(
                functools.partial(ApiKeyRateThrottle().count_and_read, request, prefix)
                if prefix
                else None
            ),
        )
        if wait := auth_failures.retry_after_from(read.get(failures_key), limit):
            ApiKeyRateThrottle.uncount(request)
            raise exceptions.Throttled(
                wait=wait,
                detail="Too many failed authentications from this address.",
            )
        if not well_formed:
            auth_failures.record(client, limit)
            raise exceptions.AuthenticationFailed("Send the key as 'Bearer <key>'.")
        if key is None:
            ApiKeyRateThrottle.uncount(request)
            auth_failures.record(client, limit)
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired key.")
        key.mark_used(timezone.now())
        return ApiKeyUser(key), key

    def authenticate_header(self, request):
        return self.keyword


class HasScope(permissions.BasePermission):
    """The view's `required_scope` (default "read") must be one of the key's scopes."""

    message = "This key does not have the scope this endpoint needs."

    def has_permission(self, request, view):
        if not isinstance(request.user, ApiKeyUser):
            return False
        if request.user.key.has_scope(getattr(view, "required_scope", "read")):
            return True
        ApiKeyRateThrottle.uncount(request)  # refused before the throttle counts
        return False


class ApiKeyRateThrottle(SlidingWindowThrottle):
    """Requests per key (API_RATE_PER_KEY), counted in the cache (Redis in prod)."""

    scope = "api_key"

    def get_ident(self, request, view):
        if not isinstance(request.user, ApiKeyUser):
            return None
        # The prefix (unique, like the id) is known before the key is looked up,
        # so authentication counts the request in its own cache round trip.
        return request.user.key.prefix


class ApiKeySchema(OpenApiAuthenticationExtension):
    """Documents the Bearer key in the OpenAPI schema."""

    target_class = "partner_api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer tk_<prefix>_<secret>",
        }
