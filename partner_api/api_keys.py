"""Keys partners use for the API: shown once, stored hashed, scoped, revocable.

Every API request looks its key up, so keys are cached (CACHE_SECONDS) by prefix,
and so are prefixes that match no key (for NEGATIVE_CACHE_SECONDS): a flood of
requests with a made-up key reads the database once per prefix, not per request.
Each cached entry carries the prefix's generation number; saving, revoking or
deleting a key changes the generation (at once and again after commit), so an entry
read from the database before the change, even one written to the cache after it,
never answers again: a revoked key stops working on its next request, and a new key
whose prefix was once looked up in vain works at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Organiser

SCOPES = ("read", "write", "checkin", "sync")
_PREFIX_BYTES = 6
_SECRET_BYTES = 32
CACHE_SECONDS = 60
NEGATIVE_CACHE_SECONDS = 30
# What a prefix can look like (the column's length, letters and digits); anything
# else is refused without a lookup.
_PREFIX_FORMAT = re.compile(r"[A-Za-z0-9]{1,16}")
LAST_USED_EVERY_SECONDS = 60

logger = logging.getLogger(__name__)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """`tk_<prefix>_<secret>`: the prefix finds the row (and lets people recognise a
    key), the secret is only ever stored as its SHA-256 (a random 256-bit secret needs
    no slow hash)."""

    organiser = models.ForeignKey(
        Organiser,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("organiser"),
    )
    name = models.CharField(max_length=100, verbose_name=_("name"))
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, verbose_name=_("prefix")
    )
    secret_hash = models.CharField(
        max_length=64, editable=False, verbose_name=_("secret hash")
    )
    scopes = models.JSONField(
        default=list,
        help_text=_("read, write, checkin, sync"),
        verbose_name=_("scopes"),
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("expires at")
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last used at")
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("revoked at")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("api key")
        verbose_name_plural = _("api keys")
        db_table = "events_apikey"  # kept from events, where it began
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
        return cls.find_reading(plain)[0]

    @classmethod
    def find_reading(
        cls, plain: str, also: list[str] | tuple[str, ...] = (), read_many=None
    ) -> tuple[ApiKey | None, dict]:
        """find(plain), reading the cache keys `also` in the same round trip (the
        authentication's failure count: one round trip per request, not two).
        Returns the key or None, and {key in `also`: its value or None}; with the
        cache unreachable, every value is None and the key comes from the database.
        `read_many` (default cache.get_many) reads a list of cache keys.
        """
        prefix = key_prefix(plain)
        wanted = [*also, *(_cache_keys(prefix) if prefix else ())]
        try:
            found = (read_many or cache.get_many)(wanted) if wanted else {}
        except Exception:  # noqa: BLE001 - the database still answers
            logger.warning("API key cache unreachable", exc_info=True)
            found = None
        extras = {name: (found or {}).get(name) for name in also}
        if prefix is None:
            return None, extras
        key = cls._cached(prefix, found)
        if key is None or not hmac.compare_digest(
            key.secret_hash, _digest(plain.split("_", 2)[2])
        ):
            return None, extras
        return (key if key.is_active else None), extras

    @classmethod
    def _cached(cls, prefix: str, found: dict | None) -> ApiKey | None:
        """The key for `prefix` from `found` (the cache's answer, None if it was
        unreachable) or from the database, then cached."""
        if found is None:
            return cls._from_database(prefix)
        entry_key, generation_key = _cache_keys(prefix)
        # Read before the database, so that a change made meanwhile outdates what
        # we are about to cache.
        generation = found.get(generation_key, "")
        entry = found.get(entry_key)
        if entry is not None and entry[0] == generation:
            return entry[1]  # None: known not to exist
        key = cls._from_database(prefix)
        _cache_set(
            entry_key,
            (generation, key),
            CACHE_SECONDS if key is not None else NEGATIVE_CACHE_SECONDS,
        )
        return key

    @classmethod
    def _from_database(cls, prefix: str) -> ApiKey | None:
        return cls.objects.filter(prefix=prefix).first()

    def mark_used(self, now) -> None:
        """Record use at most once a minute: a write on every request would make
        every call of a busy key contend for this row."""
        last = self.last_used_at
        if last is not None and (now - last).total_seconds() < LAST_USED_EVERY_SECONDS:
            return
        ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now
        entry_key, generation_key = _cache_keys(self.prefix)
        try:
            generation = cache.get(generation_key, "")
        except Exception:  # noqa: BLE001
            return
        _cache_set(entry_key, (generation, self))

    def revoke(self, now) -> None:
        ApiKey.objects.filter(pk=self.pk).update(revoked_at=now)
        self.revoked_at = now
        self.forget_cached()

    def forget_cached(self) -> None:
        """Outdate cached copies of this key, now and once the change is committed."""
        prefix = self.prefix
        _generation_bump(prefix)
        transaction.on_commit(lambda: _generation_bump(prefix))

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    instance.forget_cached()


def key_prefix(plain: str) -> str | None:
    """The prefix of a well-formed `tk_<prefix>_<secret>`, else None."""
    parts = plain.split("_", 2)
    if len(parts) != 3 or parts[0] != "tk" or not _PREFIX_FORMAT.fullmatch(parts[1]):
        return None
    return parts[1]


def _cache_keys(prefix: str) -> tuple[str, str]:
    return f"api-key:{prefix}", f"api-key-generation:{prefix}"


def _cache_set(entry_key: str, entry, seconds: int = CACHE_SECONDS) -> None:
    try:
        cache.set(entry_key, entry, seconds)
    except Exception:  # noqa: BLE001 - an uncached key is only slower
        logger.warning("API key cache unreachable", exc_info=True)


def _generation_bump(prefix: str) -> None:
    # Outlives every entry written under the old generation.
    try:
        cache.set(_cache_keys(prefix)[1], uuid.uuid4().hex, 2 * CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.exception(
            "API key cache unreachable: a changed key may be honoured for up to %s s",
            CACHE_SECONDS,
        )
