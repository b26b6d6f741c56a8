"""The demo's partner API key, on top of `events.demo` and `integrations.demo`."""

from __future__ import annotations

import hashlib

from events.models import Organiser

from .api_keys import ApiKey

# The demo's partner API key (DEBUG only; a production seed draws a random one).
DEMO_API_KEY_PREFIX = "demo00000000"
DEMO_API_KEY_SECRET = "demo-partner-key-for-local-use-only"


def demo_api_key(organiser: Organiser, *, secret: str | None) -> str:
    """The partner key of `organiser`: the fixed demo key when `secret` is None,
    else a new random key each run (its plain text exists only in the output)."""
    if secret is None:
        prefix, secret = DEMO_API_KEY_PREFIX, DEMO_API_KEY_SECRET
        ApiKey.objects.update_or_create(
            prefix=prefix,
            defaults={
                "organiser": organiser,
                "name": "Demo partner",
                "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
                "scopes": ["checkin", "read", "sync", "write"],
                "revoked_at": None,
            },
        )
        return f"tk_{prefix}_{secret}"
    key, plain = ApiKey.generate(
        organiser=organiser,
        name="Seeded partner key",
        scopes=["checkin", "read", "sync", "write"],
    )
    key.save()
    return plain
