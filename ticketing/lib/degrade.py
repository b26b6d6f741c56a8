"""Designed degradation: what the code does when a service it can live without fails.

Redis holds nothing the sale needs (see README, "When a service fails"): cached
availability is recomputed from PostgreSQL, and limits against abuse let requests
through. Each such fallback calls `cache_unavailable`, which logs a warning and
counts it (`ticketing_degraded_total`), so that operators see the outage in the
metrics rather than in sales.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("ticketing.degraded")


def cache_unavailable(what: str) -> None:
    """Record that `what` ran without the cache (call it from an `except`)."""
    logger.warning("Cache unreachable: %s went on without it", what, exc_info=True)
    from ticketing import metrics

    metrics.DEGRADED.labels(service="cache", what=what).inc()
