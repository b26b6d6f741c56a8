"""Symmetric encryption of secrets stored in the database (provider keys)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet() -> Fernet:
    key = settings.PAYMENTS_ENCRYPTION_KEY
    if not key:
        # Derived, so that a deployment without the setting still never stores keys in
        # clear; it ties the stored secrets to SECRET_KEY, which then must not change.
        digest = hashlib.sha256(f"secrets:{settings.SECRET_KEY}".encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The secret, or "" when there is none. A token from another key raises
    InvalidToken: a misconfiguration to fix, never a value to guess."""
    return _fernet().decrypt(token.encode()).decode() if token else ""


__all__ = ["InvalidToken", "decrypt", "encrypt"]
