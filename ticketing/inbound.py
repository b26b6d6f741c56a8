"""Bounds on what an unauthenticated webhook POST can make us read and store.

Anyone can POST to a webhook URL. A body over WEBHOOK_MAX_BODY_BYTES is refused from
its Content-Length, before it is read. A delivery that fails authentication is kept
for diagnosis only as an excerpt (the first REJECTED_EXCERPT_CHARS characters), its
size and its SHA-256, with a few headers cut to REJECTED_HEADER_CHARS each, and at
most WEBHOOK_REJECTIONS_PER_MINUTE of them a minute per source (an IPv4 address or an
IPv6 /64, `ticketing.lib.clientip.client_bucket`); beyond that it is only logged.
Rejected rows are deleted after WEBHOOK_REJECTED_RETENTION_DAYS (a daily beat task
per app: `rejected_before` gives the cutoff).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ticketing.lib.ratelimit import window_allows

logger = logging.getLogger(__name__)

REJECTED_EXCERPT_CHARS = 2048
REJECTED_HEADER_CHARS = 512
REJECTED_HEADERS_MAX = 8


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:  # Django reads no body for a length it cannot parse
        return 0


def body_size_limited(view):
    """Answer 413 to a body declared larger than WEBHOOK_MAX_BODY_BYTES, unread.
    (Without a Content-Length Django reads no body at all.)"""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if _declared_length(request) > settings.WEBHOOK_MAX_BODY_BYTES:
            logger.warning(
                "Refused a %d-byte webhook body on %s",
                _declared_length(request),
                request.path,
            )
            return JsonResponse(
                {
                    "error": {
                        "code": "body_too_large",
                        "message": "The request body is too large.",
                    }
                },
                status=413,
            )
        return view(request, *args, **kwargs)

    return wrapped


@dataclass(frozen=True, slots=True)
class BodySummary:
    excerpt: str
    size: int
    sha256: str


def body_summary(
    body: bytes, text: str | None = None, chars: int = REJECTED_EXCERPT_CHARS
) -> BodySummary:
    """What is kept of a rejected body: the start of `text` (the body as it may be
    stored, secrets removed; the body itself by default), the body's size and hash.
    PostgreSQL text holds no NUL character, so those are replaced."""
    if text is None:
        text = body[: chars * 4].decode("utf-8", errors="replace")
    excerpt = text[:chars]
    return BodySummary(
        excerpt=excerpt.replace("\x00", "\ufffd"),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )


REJECTION_KEY_PREFIX = "webhook-rejected"


def rejection_may_be_stored(source: str, address: str) -> bool:
    """Count one rejected delivery of `source` from `address`; False once this
    address has had WEBHOOK_REJECTIONS_PER_MINUTE stored this minute."""
    # Keyed hash: the key names no address, and the IPv4 space is too small for a
    # plain hash to hide one.
    digest = salted_hmac("ticketing.inbound", address, algorithm="sha256").hexdigest()
    allowed = window_allows(
        f"{REJECTION_KEY_PREFIX}:{source}:{digest[:16]}",
        settings.WEBHOOK_REJECTIONS_PER_MINUTE,
        60,
    )
    if not allowed:
        logger.warning(
            "Rejected %s webhook not stored: over the per-source cap", source
        )
    return allowed


def headers_kept(headers: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The headers named in `names` (lower case), each value cut to
    REJECTED_HEADER_CHARS and at most REJECTED_HEADERS_MAX of them: a forged
    signature header can be as long as the server accepts."""
    wanted = set(names)
    kept: dict[str, str] = {}
    for name, value in headers.items():
        name = name.lower()
        if name in wanted and name not in kept:
            kept[name] = str(value)[:REJECTED_HEADER_CHARS].replace("\x00", "\ufffd")
            if len(kept) >= REJECTED_HEADERS_MAX:
                break
    return kept


def rejected_before(now: dt.datetime | None = None) -> dt.datetime:
    """Rejected deliveries received before this are deleted by the retention purge."""
    return (now or timezone.now()) - dt.timedelta(
        days=settings.WEBHOOK_REJECTED_RETENTION_DAYS
    )
