"""Keys partners use for the API: shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Organiser

SCOPES = ("read", "write", "checkin", "sync")
_PREFIX_BYTES = 6
_SECRET_BYTES = 32


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """`tk_<prefix>_<secret>`: the prefix finds the row (and lets people recognise a
    key), the secret is only ever stored as its SHA-256 (a random 256-bit secret needs
    no slow hash)."""

    organiser = models.ForeignKey(
        Organiser, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text=_("read, write, checkin, sync"))
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (tk_{self.prefix}_…)"

    @classmethod
    def generate(
        cls,
        *,
        organiser: Organiser,
        name: str,
        scopes,
        expires_at=None,
        created_by=None,
    ) -> tuple[ApiKey, str]:
        """A new unsaved key and its plain text, which is never stored."""
        prefix = secrets.token_hex(_PREFIX_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        key = cls(
            organiser=organiser,
            name=name,
            prefix=prefix,
            secret_hash=_digest(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            created_by=created_by,
        )
        return key, f"tk_{prefix}_{secret}"

    @classmethod
    def find(cls, plain: str) -> ApiKey | None:
        """The active key for `plain`, or None (unknown, wrong, revoked, expired)."""
        parts = plain.split("_", 2)
        if len(parts) != 3 or parts[0] != "tk":
            return None
        key = cls.objects.select_related("organiser").filter(prefix=parts[1]).first()
        if key is None or not hmac.compare_digest(key.secret_hash, _digest(parts[2])):
            return None
        return key if key.is_active else None

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
