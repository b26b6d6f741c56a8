"""The per-listing cache of fetched figures.

A listing fetched less than `INTEGRATIONS_CACHE_SECONDS` ago is not fetched again by
an ordinary sync: its figures are already in the database, and the entry here only
says how fresh they are. Invalidation works per listing (delete its key), per platform
and for everything (bump a generation number that is part of every key), so no key
scan is ever needed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

_GLOBAL_GENERATION = "integrations:cache:generation"


def _platform_generation_key(platform: str) -> str:
    return f"integrations:cache:generation:{platform}"


def _generations(platform: str) -> tuple[int, int]:
    values = cache.get_many([_GLOBAL_GENERATION, _platform_generation_key(platform)])
    return (
        values.get(_GLOBAL_GENERATION, 0),
        values.get(_platform_generation_key(platform), 0),
    )


def _listing_key(
    platform: str, listing_id: int, generations: tuple[int, int] | None = None
) -> str:
    global_generation, platform_generation = generations or _generations(platform)
    return (
        f"integrations:listing:{listing_id}:g{global_generation}.{platform_generation}"
    )


def listings_cached(platform: str, listing_ids: list[int]) -> set[int]:
    """Which of `listing_ids` were fetched within the TTL: two round trips in all,
    not two per listing."""
    if not listing_ids:
        return set()
    generations = _generations(platform)
    keys = {_listing_key(platform, pk, generations): pk for pk in listing_ids}
    return {keys[key] for key in cache.get_many(list(keys))}


def listing_remember(
    platform: str, listing_id: int, *, total: int | None, sold: int
) -> None:
    cache.set(
        _listing_key(platform, listing_id),
        {"total": total, "sold": sold, "fetched_at": timezone.now().isoformat()},
        timeout=settings.INTEGRATIONS_CACHE_SECONDS,
    )


def listing_invalidate(platform: str, listing_id: int) -> None:
    cache.delete(_listing_key(platform, listing_id))


def _bump(key: str) -> None:
    # Generations must outlive every entry they cover, so they never expire.
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)


def platform_invalidate(platform: str) -> None:
    _bump(_platform_generation_key(platform))


def all_invalidate() -> None:
    _bump(_GLOBAL_GENERATION)
