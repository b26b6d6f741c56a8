"""Inbound platform webhooks: stored first, verified, then processed in a task.

Neither platform signs its webhooks (Eventbrite has no signature; Humanitix documents
no webhooks at all, so ours is meant for a relay such as an automation service). Both
endpoints therefore carry an unguessable per-connection token in their path, and a
delivery is only ever a hint: we fetch the data again with our own credentials and
trust only that answer (for Eventbrite, the `api_url` must point at the configured
API base). Processing runs a forced sync of the affected listings, which is
idempotent, so a repeated delivery changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from ticketing.inbound import body_summary, rejected_before, rejection_may_be_stored
from ticketing.lib import retry
from ticketing.sweep import enqueue_on_commit, sweep

from ..exceptions import SyncError
from ..models import Connection, PlatformWebhook, SyncRun
from ..platforms.base import ExternalAuthError, ExternalError, ExternalRejected
from . import alerting
from .sync import client_for, connection_sync

logger = logging.getLogger(__name__)

HUMANITIX_ID = re.compile(r"[0-9a-f]{24}")  # fullmatch: "$" would allow a "\n"
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    status_code: int
    webhook: PlatformWebhook | None
    message: str


def _eventbrite_api_base() -> str:
    return settings.EVENTBRITE_API_BASE.rstrip("/") + "/"


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; a delivery carrying one must still
    be stored (and then rejected), not crash the endpoint."""
    return value.replace("\x00", "\ufffd")


def _eventbrite_api_url_ok(api_url: object) -> bool:
    """Under our API base, without dot segments or backslashes (which the HTTP stack
    would resolve out of it), and short enough to be stored whole."""
    base = _eventbrite_api_base()
    if not isinstance(api_url, str) or not api_url.startswith(base):
        return False
    if len(api_url) > PlatformWebhook._meta.get_field("resource_url").max_length:
        return False
    path = urlsplit(api_url[len(base) :]).path
    return "\\" not in api_url and not any(
        part in (".", "..") for part in path.split("/")
    )


def _parse(platform: str, body: dict) -> tuple[str, str, str]:
    """(action, resource, problem) for a delivery's JSON body."""
    if platform == "eventbrite":
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        action = str(config.get("action", ""))[:100]
        api_url = body.get("api_url")
        if action == "test":
            return action, "", "ignored"
        if not _eventbrite_api_url_ok(api_url):
            return action, "", "api_url must point at the Eventbrite API"
        return action, api_url, ""
    event_id = body.get("eventId")
    action = str(body.get("action", "") or "changed")[:100]
    if not isinstance(event_id, str) or not HUMANITIX_ID.fullmatch(event_id):
        return action, "", "eventId must be a Humanitix event id"
    date_id = body.get("eventDateId")
    if date_id is not None and (
        not isinstance(date_id, str) or not HUMANITIX_ID.fullmatch(date_id)
    ):
        return action, "", "eventDateId must be a Humanitix event date id"
    return action, f"{event_id}/{date_id}" if date_id else event_id, ""


def platform_webhook_receive(
    *, platform: str, token: str, body: bytes, source: str = ""
) -> Received:
    """Store a delivery and enqueue its processing on commit (a broker that cannot be
    reached is logged; the sweep picks the row up). Unknown tokens get 404 and are
    logged without a row (nothing ties them to an organiser); a rejected delivery is
    kept bounded (an excerpt, its size and hash), unless `source` (the client
    address) has had too many kept this minute."""
    connection = Connection.objects.filter(
        platform=platform, webhook_token=token
    ).first()
    if connection is None:
        logger.warning("Webhook for %s with an unknown token", platform)
        return Received(404, None, "unknown endpoint")
    webhook = PlatformWebhook(
        connection=connection,
        platform=platform,
        raw_body=_text(body[:MAX_BODY].decode("utf-8", errors="replace")),
        body_size=len(body),
    )
    try:
        payload = json.loads(body) if len(body) <= MAX_BODY else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        problem, action, resource = "body must be a JSON object", "", ""
    else:
        action, resource, problem = _parse(platform, payload)
    webhook.action, webhook.resource_url = _text(action), _text(resource)
    if problem == "ignored" or not connection.is_enabled:
        webhook.status = PlatformWebhook.Status.IGNORED
        webhook.processed_at = timezone.now()
        webhook.save()
        return Received(200, webhook, "ignored")
    if problem:
        if not rejection_may_be_stored(f"integrations.{platform}", source):
            return Received(400, None, problem)
        summary = body_summary(body)
        webhook.raw_body, webhook.body_sha256 = summary.excerpt, summary.sha256
        webhook.status = PlatformWebhook.Status.REJECTED
        webhook.error = problem
        webhook.save()
        return Received(400, webhook, problem)
    with transaction.atomic():
        webhook.save()
        _enqueue(webhook.pk)
    return Received(200, webhook, "queued")


def platform_webhooks_rejected_purge(now: dt.datetime | None = None) -> int:
    """Delete rejected deliveries past WEBHOOK_REJECTED_RETENTION_DAYS (beat, daily)."""
    deleted, _ = PlatformWebhook.objects.filter(
        status=PlatformWebhook.Status.REJECTED, received_at__lt=rejected_before(now)
    ).delete()
    if deleted:
        logger.info("Purged %d rejected platform webhooks", deleted)
    return deleted


def _enqueue(webhook_id: int) -> None:
    from ..tasks import platform_webhook_process_task

    enqueue_on_commit(platform_webhook_process_task, webhook_id)


def _affected_listings(webhook: PlatformWebhook) -> list[int]:
    connection = webhook.connection
    listings = connection.listings.filter(is_enabled=True)
    if webhook.platform == "eventbrite":
        event_id = client_for(connection).fetch_resource_event_id(webhook.resource_url)
        listings = listings.filter(external_event_id=event_id)
    else:
        event_id, _, date_id = webhook.resource_url.partition("/")
        listings = listings.filter(external_event_id=event_id)
        if date_id:
            listings = listings.filter(external_date_id=date_id)
    return list(listings.values_list("pk", flat=True))


# Longer than any one sync: a claimed delivery is not due again while it is processed.
CLAIM_LEASE = dt.timedelta(minutes=20)


def platform_webhook_process(*, webhook_id: int) -> PlatformWebhook:
    """Find the listings a delivery is about and sync them, bypassing the cache.

    Idempotent. A platform that is unavailable, or a sync of the connection already
    running, leaves the delivery FAILED with a growing `next_attempt_at` for
    `platform_webhooks_retry_due`; a resource the platform refuses marks it REJECTED.
    """
    webhook = PlatformWebhook.objects.select_related("connection").get(pk=webhook_id)
    if webhook.status in (
        PlatformWebhook.Status.PROCESSED,
        PlatformWebhook.Status.IGNORED,
        PlatformWebhook.Status.REJECTED,
    ):
        return webhook
    webhook.attempts += 1
    try:
        listing_ids = _affected_listings(webhook)
        if not listing_ids:
            return _close(webhook, PlatformWebhook.Status.IGNORED, "no listing for it")
        run = connection_sync(
            connection_id=webhook.connection_id,
            trigger=SyncRun.Trigger.WEBHOOK,
            listing_ids=listing_ids,
            force=True,
        )
    except ExternalAuthError as error:
        # Our credentials were refused, not the resource: retry once they are fixed.
        return _failed(webhook, str(error))
    except ExternalRejected as error:
        return _close(webhook, PlatformWebhook.Status.REJECTED, str(error))
    except (ExternalError, SyncError) as error:
        return _failed(webhook, str(error))
    if run.listings_failed:
        # The sync records platform failures on its run instead of raising; the
        # listing kept its last figures, so the delivery is still to be applied.
        messages = [entry["message"] for entry in run.errors if "listing" in entry]
        return _failed(webhook, "; ".join(messages[:3]) or run.status)
    return _close(webhook, PlatformWebhook.Status.PROCESSED, "")


def _failed(webhook: PlatformWebhook, error: str) -> PlatformWebhook:
    logger.warning("Platform webhook %s failed: %s", webhook.pk, error)
    webhook.status, webhook.error = PlatformWebhook.Status.FAILED, error[:2000]
    webhook.next_attempt_at = retry.PLATFORM_WEBHOOKS.next_attempt_at(
        webhook.attempts, now=timezone.now()
    )
    webhook.save(update_fields=["status", "error", "attempts", "next_attempt_at"])
    if webhook.next_attempt_at is None:
        # Nothing retries it now; the next scheduled sync still brings the data.
        logger.error(
            "Platform webhook %s gave up after %d attempts: %s",
            webhook.pk,
            webhook.attempts,
            webhook.error,
        )
        alerting.webhook_exhausted_alert(webhook)
    return webhook


# A delivery no task has processed after this is swept (its task was lost, or could
# not be enqueued).
SWEEP_AFTER = dt.timedelta(minutes=1)


def _due(now: dt.datetime) -> Q:
    return Q(status=PlatformWebhook.Status.FAILED, next_attempt_at__lte=now) | Q(
        status=PlatformWebhook.Status.RECEIVED, received_at__lte=now - SWEEP_AFTER
    )


def platform_webhooks_retry_due(now=None) -> int:
    """The sweep (Celery beat, every minute): failed deliveries whose delay has
    passed, and any left RECEIVED for over a minute. Each is claimed first (skipping
    rows another sweep holds) by pushing its next attempt past this sweep, so that a
    sweep still running when the next one starts never hands the same delivery to
    both."""
    now = now or timezone.now()
    return sweep(
        PlatformWebhook.objects.filter(_due(now)),
        lambda pk: platform_webhook_process(webhook_id=pk),
        limit=100,
        status=PlatformWebhook.Status.FAILED,
        next_attempt_at=timezone.now() + CLAIM_LEASE,
    )


def platform_webhooks_oldest_due(now: dt.datetime) -> dt.datetime | None:
    """Since when the longest-waiting delivery has been due (None: none is), for the
    health check."""
    received = PlatformWebhook.objects.filter(
        status=PlatformWebhook.Status.RECEIVED, processed_at__isnull=True
    ).aggregate(oldest=Min("received_at"))["oldest"]
    retrying = PlatformWebhook.objects.filter(
        status=PlatformWebhook.Status.FAILED, next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return min((value for value in (received, retrying) if value), default=None)


def _close(webhook: PlatformWebhook, status: str, error: str) -> PlatformWebhook:
    webhook.status, webhook.error = status, error
    webhook.processed_at = timezone.now()
    webhook.next_attempt_at = None
    webhook.save(
        update_fields=["status", "error", "attempts", "processed_at", "next_attempt_at"]
    )
    return webhook
