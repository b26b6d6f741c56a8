"""Syncing one connection: fetch every enabled listing from the platform, in parallel
up to INTEGRATIONS_SYNC_CONCURRENCY, and write each result as it arrives.

Fetching threads call the platform and hand each listing to writing threads (its
orders and figures in one transaction, then its session's external sales under the
session lock; `sync_pipeline`), so no call waits for a write and database time
overlaps the other listings' calls. A listing that fails keeps its last good
figures, is marked stale with the error, and the run reports partial success. Each
run is a SyncRun row with audit rows `integrations.sync_started` and
`integrations.sync_completed` (or `integrations.sync_failed`); its counts are saved as
listings are done (at most every PROGRESS_SAVE_SECONDS). Only listings of sessions
that have not ended are synced.
`connection_sync` runs at once (beat, webhooks); `sync_jobs` queues a run (API, admin).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bookings.exceptions import InventoryBusy
from events.selectors import sessions_upcoming
from ticketing.audit import audit_log

from ..exceptions import ConnectionNotReady, SyncAlreadyRunning
from ..models import Connection, Listing, SyncRun
from ..platforms import client_class
from ..platforms.base import (
    ExternalAuthError,
    ExternalError,
    ListingRef,
    PlatformClient,
    PlatformCredentials,
)
from . import alerting
from . import cache as listing_cache
from .apply import (
    ListingFetched,
    listing_apply_failure,
    listing_apply_success,
    session_external_refresh,
)
from .locks import connection_sync_lock
from .sync_pipeline import Crash, fetch_then_write

logger = logging.getLogger(__name__)

# How often a run's counts are saved while it goes on (and once at its end).
PROGRESS_SAVE_SECONDS = 0.25


def client_for(connection: Connection) -> PlatformClient:
    credentials = PlatformCredentials(
        token=connection.credentials, account_id=connection.account_id
    )
    return client_class(connection.platform)(
        credentials, rate_key=f"connection-{connection.pk}"
    )


def listing_ref(listing: Listing) -> ListingRef:
    return ListingRef(
        event_id=listing.external_event_id,
        date_id=listing.external_date_id,
        ticket_ids=tuple(listing.external_ticket_ids or ()),
    )


@dataclass(frozen=True, slots=True)
class ListingOutcome:
    listing: Listing
    imported: int = 0
    places_total: int | None = None
    places_sold: int = 0
    error: Exception | None = None  # the fetch or write failed
    session_error: Exception | None = None  # saved, but the session sum must wait


def _fetch(client: PlatformClient, listing: Listing) -> ListingFetched:
    started_at = timezone.now()
    ref = listing_ref(listing)
    places = client.fetch_places(ref)
    orders = client.fetch_orders(ref, since=listing.orders_synced_until)
    return ListingFetched(places=places, orders=orders, started_at=started_at)


def _fetch_or_error(
    client: PlatformClient, listing: Listing
) -> ListingFetched | Exception:
    """Runs in a fetching thread: the calls only, no database."""
    try:
        return _fetch(client, listing)
    except ExternalError as error:
        return error


def _write_listing(
    listing: Listing, fetched: ListingFetched | Exception, platform: str
) -> ListingOutcome:
    """Runs in a writing thread: this listing's writes, each in its own transaction,
    while other threads go on fetching."""
    try:
        if isinstance(fetched, Exception):
            raise fetched
        imported, sold = listing_apply_success(listing, fetched)
    except (ExternalError, InventoryBusy) as error:
        listing_apply_failure(listing, str(error))
        session_error = _refresh_session(listing.session_id)
        return ListingOutcome(listing, error=error, session_error=session_error)
    listing_cache.listing_remember(
        platform, listing.pk, total=fetched.places.total, sold=sold
    )
    return ListingOutcome(
        listing,
        imported=imported,
        places_total=fetched.places.total,
        places_sold=sold,
        session_error=_refresh_session(listing.session_id),
    )


def _refresh_session(session_id: int) -> InventoryBusy | None:
    try:
        session_external_refresh(session_id)
    except InventoryBusy as error:
        # The listing's figures are saved; the next sync sums them again.
        return error
    return None


def _error_entry(listing: Listing, error: Exception) -> dict:
    code = getattr(error, "code", None) or type(error).__name__
    return {
        "listing": listing.pk,
        "session": listing.session_id,
        "code": code,
        "message": str(error)[:500],
    }


def connection_sync(
    *,
    connection_id: int,
    trigger: str,
    actor=None,
    listing_ids: Iterable[int] | None = None,
    force: bool = False,
) -> SyncRun:
    """Sync a connection's enabled listings (or only `listing_ids`).

    Listings fetched within INTEGRATIONS_CACHE_SECONDS are skipped unless `force`.
    Raises SyncAlreadyRunning when another sync of the connection holds its lock,
    and ConnectionNotReady when it is disabled or has no credentials. Otherwise
    returns the finished SyncRun, whatever the platform did: errors are recorded on
    the run and on each listing, never raised. Safe to run again at any time.
    """
    connection = Connection.objects.select_related("organiser").get(pk=connection_id)
    if not connection.is_enabled or not connection.has_credentials:
        raise ConnectionNotReady()
    with connection_sync_lock(connection.pk) as taken:
        if not taken:
            raise SyncAlreadyRunning()
        with transaction.atomic():
            # Holding the lock, no other run of this connection can be alive.
            sync_runs_abandoned_fail(connection)
            run = sync_run_create(connection=connection, trigger=trigger, actor=actor)
        return sync_run_perform(
            run, connection, actor=actor, listing_ids=listing_ids, force=force
        )


def sync_run_create(*, connection: Connection, trigger: str, actor=None) -> SyncRun:
    """A RUNNING run with its `integrations.sync_started` audit row; the caller owns
    the transaction and the connection's lock."""
    run = SyncRun.objects.create(
        connection=connection, platform=connection.platform, trigger=trigger
    )
    audit_log(
        action="integrations.sync_started",
        obj=run,
        organiser_id=connection.organiser_id,
        actor=actor,
        data={"platform": connection.platform, "trigger": trigger},
    )
    return run


def sync_runs_abandoned_fail(connection: Connection) -> int:
    """Mark FAILED the runs of `connection` still RUNNING while nothing holds its
    lock: their worker died, or their task never came. Call only when no live run
    can exist (holding the lock, or having seen it free)."""
    abandoned = list(connection.runs.filter(status=SyncRun.Status.RUNNING))
    for run in abandoned:
        sync_run_give_up(
            run,
            code="abandoned",
            message="The sync stopped before it finished (worker lost or timed out).",
        )
    return len(abandoned)


def sync_run_give_up(run: SyncRun, *, code: str, message: str, actor=None) -> None:
    """End a RUNNING run as FAILED without syncing (the connection is unchanged)."""
    with transaction.atomic():
        updated = SyncRun.objects.filter(
            pk=run.pk, status=SyncRun.Status.RUNNING
        ).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            errors=[*run.errors, {"code": code, "message": message}],
        )
        if updated:
            audit_log(
                action="integrations.sync_failed",
                obj=run,
                organiser_id=run.connection.organiser_id,
                actor=actor,
                data={"status": SyncRun.Status.FAILED, "code": code},
            )
    run.refresh_from_db()


def sync_run_perform(
    run: SyncRun,
    connection: Connection,
    *,
    actor=None,
    listing_ids: Iterable[int] | None = None,
    force: bool = False,
) -> SyncRun:
    """Fetch and apply the listings of a RUNNING `run`, saving its counts as each
    listing is done, and finish it. The caller holds the connection's lock."""
    clock = time.monotonic()
    try:
        return _fetch_and_apply(run, connection, actor, listing_ids, force, clock)
    except Exception:
        # A bug, not a platform failure: the run must not stay "running" forever.
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            errors=[*run.errors, {"code": "internal_error", "message": "crashed"}],
        )
        raise


_PROGRESS_FIELDS = [
    "listings_synced",
    "listings_cached",
    "listings_failed",
    "orders_imported",
    "errors",
]


def _progress_save(run: SyncRun) -> None:
    # What `GET .../sync/<run>/` and the admin show while the run goes on.
    SyncRun.objects.filter(pk=run.pk).update(
        **{name: getattr(run, name) for name in _PROGRESS_FIELDS}
    )


def _fetch_and_apply(run, connection, actor, listing_ids, force, clock) -> SyncRun:
    # An ended session sells nothing more anywhere: its last figures stay as they are.
    listings = connection.listings.filter(
        is_enabled=True, session__in=sessions_upcoming()
    ).order_by("pk")
    if listing_ids is not None:
        listings = listings.filter(pk__in=list(listing_ids))
    listings = list(listings)
    cached = (
        set()
        if force
        else listing_cache.listings_cached(
            connection.platform, [listing.pk for listing in listings]
        )
    )
    run.listings_cached += len(cached)
    to_fetch = [listing for listing in listings if listing.pk not in cached]
    _progress_save(run)
    auth_failed = False
    if to_fetch:
        workers = max(1, min(settings.INTEGRATIONS_SYNC_CONCURRENCY, len(to_fetch)))
        client, platform = client_for(connection), connection.platform
        # Closed on the way out, so that a crash still waits for the threads: the
        # run must not end while its listings are being written.
        with closing(
            fetch_then_write(
                to_fetch,
                fetch=partial(_fetch_or_error, client),
                write=partial(_write_listing, platform=platform),
                fetchers=workers,
                name=f"sync-{platform}",
                tick=PROGRESS_SAVE_SECONDS,
            )
        ) as outcomes:
            auth_failed = _outcomes_count(run, outcomes)
    return _finish(run, connection, actor, clock, auth_failed)


def _outcomes_count(run: SyncRun, outcomes) -> bool:
    """Count the outcomes into the run as they come; returns whether the platform
    refused the credentials. Saves the counts at most every PROGRESS_SAVE_SECONDS
    (and when the listings pause): one UPDATE per listing from this one thread fell
    behind the pool."""
    auth_failed = False
    saved_at, unsaved = time.monotonic(), False
    for outcome in outcomes:
        if isinstance(outcome, Crash):
            raise outcome.error
        if outcome is not None:
            auth_failed |= _outcome_count(run, outcome)
            unsaved = True
        if unsaved and (
            outcome is None or time.monotonic() - saved_at >= PROGRESS_SAVE_SECONDS
        ):
            _progress_save(run)
            saved_at, unsaved = time.monotonic(), False
    return auth_failed


def _outcome_count(run: SyncRun, outcome: ListingOutcome) -> bool:
    """Add a listing's outcome to the run; returns whether the platform refused the
    credentials."""
    listing = outcome.listing
    if outcome.session_error is not None:
        run.errors.append(
            {
                "session": listing.session_id,
                "code": outcome.session_error.code,
                "message": outcome.session_error.message,
            }
        )
    if outcome.error is not None:
        _listing_failed(run, listing, outcome.error)
        return isinstance(outcome.error, ExternalAuthError)
    run.listings_synced += 1
    run.orders_imported += outcome.imported
    return False


def _listing_failed(run: SyncRun, listing: Listing, error: Exception) -> None:
    logger.warning(
        "Sync of listing %s (%s) failed: %s",
        listing.pk,
        run.platform,
        error,
        extra={"listing_id": listing.pk, "sync_run_id": run.pk},
    )
    run.listings_failed += 1
    run.errors.append(_error_entry(listing, error))


def _finish(run, connection, actor, clock, auth_failed) -> SyncRun:
    now = timezone.now()
    done = run.listings_synced + run.listings_cached
    if run.listings_failed == 0:
        run.status = SyncRun.Status.SUCCESS
    elif done:
        run.status = SyncRun.Status.PARTIAL
    else:
        run.status = SyncRun.Status.FAILED
    run.finished_at = now
    run.duration_ms = int((time.monotonic() - clock) * 1000)
    summary = {
        "status": run.status,
        "synced": run.listings_synced,
        "cached": run.listings_cached,
        "failed": run.listings_failed,
        "orders_imported": run.orders_imported,
        "duration_ms": run.duration_ms,
    }
    connection_fields = {"last_sync_at": now}
    if run.status == SyncRun.Status.SUCCESS:
        connection_fields.update(last_success_at=now, last_error="")
    else:
        connection_fields["last_error"] = "; ".join(
            entry["message"] for entry in run.errors[:3]
        )[:2000]
    connection_fields["auth_failed_at"] = now if auth_failed else None
    with transaction.atomic():
        run.save()
        Connection.objects.filter(pk=connection.pk).update(**connection_fields)
        audit_log(
            action="integrations.sync_failed"
            if run.status == SyncRun.Status.FAILED
            else "integrations.sync_completed",
            obj=run,
            organiser_id=connection.organiser_id,
            actor=actor,
            data=summary,
        )
        connection.last_error = connection_fields.get("last_error", "")
        alerting.sync_alert_update(connection, run)
    logger.info(
        "Sync %s of %s connection %s: %s",
        run.pk,
        run.platform,
        connection.pk,
        summary,
        extra={"sync_run_id": run.pk},
    )
    return run
