"""The two identifiers of a ticket: a short code for people, a secret for scanners."""

from __future__ import annotations

import secrets

# No 0/O or 1/I: codes are read aloud and typed from paper tickets.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 32**8 = 2**40 codes: a collision is rare, and retried


def ticket_code_new() -> str:
    """E.g. "7K3Q-XZ9M": 8 random characters in two groups of four."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def ticket_secret_new() -> str:
    """256 random bits, URL-safe base64 (43 characters): what the QR code carries."""
    return secrets.token_urlsafe(32)
