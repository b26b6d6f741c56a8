"""Each platform connection's last sync, for `/healthz/full` (registered in apps.py)."""

from __future__ import annotations

import datetime as dt

from .models import Connection

# A connection fails the check once it has had no successful sync for this many of
# its intervals (one missed run is not worth waking anyone), nor for this long.
STALE_INTERVALS = 3
STALE_AT_LEAST = dt.timedelta(minutes=15)


def connections_check(now: dt.datetime) -> dict:
    """Per enabled connection: its last sync and last success; an error when its
    credentials were refused or it has not synced successfully for too long."""
    rows = []
    for conn in Connection.objects.filter(is_enabled=True).order_by("pk"):
        stale_after = max(
            STALE_AT_LEAST,
            dt.timedelta(minutes=conn.sync_interval_minutes * STALE_INTERVALS),
        )
        since = conn.last_success_at or conn.created_at
        row = {
            "id": conn.pk,
            "platform": conn.platform,
            "organiser_id": conn.organiser_id,
            "last_sync_at": _iso(conn.last_sync_at),
            "last_success_at": _iso(conn.last_success_at),
            "status": "ok",
        }
        if conn.auth_failed_at is not None:
            row.update(status="error", error="credentials refused")
        elif now - since > stale_after:
            row.update(status="error", error="no successful sync lately")
        rows.append(row)
    failing = any(row["status"] != "ok" for row in rows)
    return {"status": "error" if failing else "ok", "connections": rows}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
