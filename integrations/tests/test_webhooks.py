"""Inbound platform webhooks through the real URLs: Eventbrite's thin deliveries and
the Humanitix relay. Every delivery is stored first; processing (an eager task here)
re-fetches with our credentials against the fakes and runs a forced sync of the
affected listings, so the assertions are on stored rows and the resulting figures."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models import Session
from integrations.models import (
    ExternalOrder,
    Listing,
    Platform,
    PlatformWebhook,
    SyncRun,
)
from integrations.services.locks import connection_sync_lock
from integrations.services.webhooks import (
    MAX_BODY,
    platform_webhook_process,
    platform_webhooks_retry_due,
)
from integrations.tests.factories import ConnectionFactory, ListingFactory
from integrations.tests.fakes.base import Reply
from integrations.tests.fakes.eventbrite_server import eventbrite_fake  # noqa: F401
from integrations.tests.fakes.humanitix_server import humanitix_fake  # noqa: F401
from ticketing.alerts import EMAIL_KIND
from ticketing.inbound import REJECTED_EXCERPT_CHARS
from ticketing.lib import ratelimit
from ticketing.models import Alert, OutboxMessage
from ticketing.tests.broker import broker_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

Status = PlatformWebhook.Status
EVENT, TICKET_CLASS = "700100200", "tc-standard"


# -- set-up ------------------------------------------------------------------------


@pytest.fixture
def eb(eventbrite_fake):  # noqa: F811
    eventbrite_fake.add_ticket_class(EVENT, TICKET_CLASS, quantity_total=100)
    return eventbrite_fake


@pytest.fixture
def eb_connection(eb):
    connection = ConnectionFactory(
        platform=Platform.EVENTBRITE, account_id=eb.organization_id
    )
    connection.set_credentials(eb.token)
    connection.save()
    return connection


@pytest.fixture
def eb_listing(eb_connection):
    return ListingFactory(
        connection=eb_connection,
        session__capacity=100,
        session__event__organiser=eb_connection.organiser,
        external_event_id=EVENT,
        external_date_id="",
    )


@pytest.fixture
def hx(humanitix_fake):  # noqa: F811
    return humanitix_fake


@pytest.fixture
def hx_connection(hx):
    connection = ConnectionFactory(platform=Platform.HUMANITIX, account_id="")
    connection.set_credentials(hx.api_key)
    connection.save()
    return connection


def _hx_listing(connection, event_id, date_id):
    return ListingFactory(
        connection=connection,
        session__capacity=100,
        session__event__organiser=connection.organiser,
        external_event_id=event_id,
        external_date_id=date_id,
    )


def _url(connection, platform: str | None = None, token: str | None = None) -> str:
    platform = platform or connection.platform
    return reverse(
        f"integrations:{platform}-webhook", args=[token or connection.webhook_token]
    )


def _post(client, url: str, body, headers: dict | None = None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        url, data=data, content_type="application/json", headers=headers or {}
    )


def _deliver(client, fake, connection, action: str, object_path: str | None):
    return _post(
        client,
        _url(connection),
        fake.webhook_payload(action, object_path),
        fake.webhook_headers(action),
    )


def _only_webhook() -> PlatformWebhook:
    webhooks = list(PlatformWebhook.objects.all())
    assert len(webhooks) == 1, webhooks
    return webhooks[0]


def _session(listing: Listing) -> Session:
    return Session.objects.get(pk=listing.session_id)


# -- Eventbrite: the useful deliveries -------------------------------------------------


def test_order_placed_is_stored_processed_and_syncs_the_listing(
    client, eb, eb_connection, eb_listing
):
    order = eb.sell(EVENT, TICKET_CLASS, 2, email="grace@example.org")
    api_url = eb.resource_url(f"orders/{order['id']}/")

    response = _deliver(
        client, eb, eb_connection, "order.placed", f"orders/{order['id']}/"
    )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.action, webhook.resource_url) == (
        Status.PROCESSED,
        "order.placed",
        api_url,
    )
    assert webhook.connection_id == eb_connection.pk
    assert webhook.platform == "eventbrite"
    assert json.loads(webhook.raw_body)["api_url"] == api_url
    assert webhook.attempts == 1
    assert webhook.processed_at is not None
    assert webhook.error == ""
    # The delivery was only a hint: the order itself was fetched with our token.
    order_calls = eb.calls(f"/v3/orders/{order['id']}/")
    assert len(order_calls) == 1
    assert order_calls[0].headers["authorization"] == f"Bearer {eb.token}"

    run = SyncRun.objects.get(connection=eb_connection)
    assert (run.trigger, run.status, run.listings_synced) == ("webhook", "success", 1)
    eb_listing.refresh_from_db()
    assert (eb_listing.places_total, eb_listing.places_sold) == (100, 2)
    assert eb_listing.values_synced_at is not None
    imported = ExternalOrder.objects.get(listing=eb_listing)
    assert (imported.external_id, imported.status, imported.quantity) == (
        order["id"],
        "active",
        2,
    )
    assert imported.buyer_email == "grace@example.org"
    assert _session(eb_listing).external_sold_count == 2


def test_a_repeated_delivery_and_a_refund_keep_one_order_per_order(
    client, eb, eb_connection, eb_listing
):
    order = eb.sell(EVENT, TICKET_CLASS, 3)
    path = f"orders/{order['id']}/"

    for _ in range(2):
        assert (
            _deliver(client, eb, eb_connection, "order.placed", path).status_code == 200
        )

    assert ExternalOrder.objects.filter(listing=eb_listing).count() == 1
    assert ExternalOrder.objects.get(listing=eb_listing).quantity == 3
    assert _session(eb_listing).external_sold_count == 3
    assert SyncRun.objects.filter(trigger="webhook").count() == 2  # forced each time

    eb.refund_order(order["id"])
    response = _deliver(client, eb, eb_connection, "order.refunded", path)

    assert response.status_code == 200
    assert PlatformWebhook.objects.filter(status=Status.PROCESSED).count() == 3
    imported = ExternalOrder.objects.get(listing=eb_listing)
    assert (imported.status, imported.quantity) == ("cancelled", 0)
    assert all(not ticket["active"] for ticket in imported.tickets.values())
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 0
    assert _session(eb_listing).external_sold_count == 0


def test_an_event_resource_maps_to_its_listing(client, eb, eb_connection, eb_listing):
    eb.sell(EVENT, TICKET_CLASS, 4)

    response = _deliver(client, eb, eb_connection, "event.updated", f"events/{EVENT}/")

    assert response.status_code == 200
    assert _only_webhook().status == Status.PROCESSED
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 4


def test_only_the_listings_of_the_orders_event_are_synced(
    client, eb, eb_connection, eb_listing
):
    eb.add_ticket_class("700100999", "tc-other", quantity_total=50)
    other = ListingFactory(
        connection=eb_connection,
        session__event__organiser=eb_connection.organiser,
        external_event_id="700100999",
        external_date_id="",
    )
    eb.sell("700100999", "tc-other", 1)
    order = eb.sell(EVENT, TICKET_CLASS, 2)

    _deliver(client, eb, eb_connection, "order.placed", f"orders/{order['id']}/")

    run = SyncRun.objects.get()
    assert (run.listings_synced, run.listings_cached) == (1, 0)
    other.refresh_from_db()
    assert (other.values_synced_at, other.places_sold) == (None, 0)
    assert not eb.calls("/events/700100999/")


# -- Eventbrite: what is refused or ignored --------------------------------------------


@pytest.mark.parametrize(
    "api_url",
    [
        "https://evil.example/v3/orders/1/",
        # The API base as a prefix of another host, or without its path.
        "{base}.evil.example/orders/1/",
        "{origin}/orders/1/",
        None,
        42,
    ],
)
def test_an_api_url_outside_the_api_base_is_rejected_before_any_call(
    client, eb, eb_connection, eb_listing, api_url
):
    payload = eb.webhook_payload("order.placed", "orders/1/")
    base = eb.resource_url("").rstrip("/")
    if isinstance(api_url, str):
        api_url = api_url.format(base=base, origin=eb.url)
    payload["api_url"] = api_url

    response = _post(client, _url(eb_connection), payload)

    assert response.status_code == 400
    webhook = _only_webhook()
    assert webhook.status == Status.REJECTED
    assert "api_url" in webhook.error
    assert webhook.resource_url == ""
    assert webhook.action == "order.placed"
    assert eb.requests == []
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize(
    "object_path", ["orders/../../admin/", "orders/./1/", "orders\\..\\..\\x/"]
)
def test_dot_segments_under_the_api_base_are_rejected_before_any_call(
    client, eb, eb_connection, eb_listing, object_path
):
    response = _deliver(client, eb, eb_connection, "order.placed", object_path)

    assert response.status_code == 400
    assert _only_webhook().status == Status.REJECTED
    assert eb.requests == []
    assert not SyncRun.objects.exists()


def test_a_resource_the_platform_does_not_know_is_rejected(
    client, eb, eb_connection, eb_listing
):
    response = _deliver(client, eb, eb_connection, "order.placed", "orders/123456/")

    assert response.status_code == 200  # accepted; the check is the re-fetch
    webhook = _only_webhook()
    assert webhook.status == Status.REJECTED
    assert "404" in webhook.error
    assert webhook.next_attempt_at is None
    assert not SyncRun.objects.exists()


def test_the_dashboard_test_delivery_is_answered_and_ignored(
    client, eb, eb_connection, eb_listing
):
    response = _deliver(client, eb, eb_connection, "test", None)

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.action, webhook.resource_url) == (
        Status.IGNORED,
        "test",
        "",
    )
    assert "{api-endpoint-to-fetch-object-details}" in webhook.raw_body
    assert webhook.processed_at is not None
    assert eb.requests == []
    assert not SyncRun.objects.exists()


def test_an_unknown_token_is_not_found_and_stores_nothing(
    client, eb, eb_connection, hx_connection
):
    payload = eb.webhook_payload("order.placed", "orders/1/")

    unknown = _post(client, _url(eb_connection, token="not-a-real-token"), payload)
    # A token is only valid on its own platform's endpoint.
    crossed = _post(
        client, _url(eb_connection, platform="humanitix", token=None), payload
    )
    crossed_back = _post(
        client,
        _url(hx_connection, platform="eventbrite"),
        payload,
    )

    assert (unknown.status_code, crossed.status_code, crossed_back.status_code) == (
        404,
        404,
        404,
    )
    assert not PlatformWebhook.objects.exists()
    assert eb.requests == []


def test_only_post_is_accepted(client, eb_connection):
    assert client.get(_url(eb_connection)).status_code == 405
    assert client.put(_url(eb_connection), data="{}").status_code == 405
    assert not PlatformWebhook.objects.exists()


@pytest.mark.parametrize(
    "body", [b"not json", b"", b"[1, 2]", b'"a string"', b"\xff\xfe{", b"null"]
)
def test_a_body_that_is_not_a_json_object_is_rejected_and_stored(
    client, eb, eb_connection, body
):
    response = _post(client, _url(eb_connection), body)

    assert response.status_code == 400
    webhook = _only_webhook()
    assert webhook.status == Status.REJECTED
    assert webhook.error == "body must be a JSON object"
    assert webhook.raw_body == body.decode("utf-8", errors="replace")
    assert eb.requests == []


def test_a_rejected_body_is_kept_as_an_excerpt_with_its_size_and_hash(
    client, eb, eb_connection
):
    payload = eb.webhook_payload("order.placed", "orders/1/")
    payload["padding"] = "x" * (MAX_BODY + 10)
    body = json.dumps(payload).encode()

    response = _post(client, _url(eb_connection), body)

    assert response.status_code == 400
    webhook = _only_webhook()
    assert webhook.status == Status.REJECTED
    assert webhook.raw_body == body[:REJECTED_EXCERPT_CHARS].decode()
    assert webhook.body_size == len(body)
    assert webhook.body_sha256 == hashlib.sha256(body).hexdigest()
    assert eb.requests == []


def test_a_body_over_the_cap_is_refused_unread_and_nothing_is_stored(
    client, eb, eb_connection, settings
):
    settings.WEBHOOK_MAX_BODY_BYTES = 100_000

    response = _post(client, _url(eb_connection), b"x" * 100_001)

    assert response.status_code == 413
    assert not PlatformWebhook.objects.exists()
    assert eb.requests == []


def test_stored_rejections_are_capped_per_source_address(
    client, eb, eb_connection, settings
):
    settings.WEBHOOK_REJECTIONS_PER_MINUTE = 2
    frozen = (int(time.time()) // 60) * 60 + 30.0
    with mock.patch.object(ratelimit, "time", SimpleNamespace(time=lambda: frozen)):
        answers = [
            client.post(
                _url(eb_connection),
                data=b"not json",
                content_type="application/json",
                REMOTE_ADDR=address,
            ).status_code
            for address in ["203.0.113.7"] * 4 + ["198.51.100.9"]
        ]

    assert answers == [400] * 5
    assert PlatformWebhook.objects.filter(status=Status.REJECTED).count() == 3


def test_nul_characters_are_stored_without_breaking_the_endpoint(
    client, eb, eb_connection, eb_listing
):
    """PostgreSQL text cannot hold U+0000: a body carrying it must still be stored."""
    raw = _post(client, _url(eb_connection), b'{"api_url": "\x00"}')
    escaped = _post(
        client,
        _url(eb_connection),
        {"api_url": "https://evil.example/\u0000", "config": {"action": "a\u0000b"}},
    )

    assert (raw.status_code, escaped.status_code) == (400, 400)
    webhooks = list(PlatformWebhook.objects.order_by("pk"))
    assert [w.status for w in webhooks] == [Status.REJECTED, Status.REJECTED]
    assert "\x00" not in webhooks[0].raw_body
    assert webhooks[1].action == "a\ufffdb"
    assert eb.requests == []


def test_an_order_of_an_event_no_listing_maps_is_ignored(
    client, eb, eb_connection, eb_listing
):
    eb.add_ticket_class("999000111", "tc-unmapped", quantity_total=20)
    order = eb.sell("999000111", "tc-unmapped", 1)

    response = _deliver(
        client, eb, eb_connection, "order.placed", f"orders/{order['id']}/"
    )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.error) == (Status.IGNORED, "no listing for it")
    assert webhook.processed_at is not None
    assert not SyncRun.objects.exists()
    assert not ExternalOrder.objects.exists()


def test_a_disabled_listing_is_not_synced_by_a_webhook(
    client, eb, eb_connection, eb_listing
):
    Listing.objects.filter(pk=eb_listing.pk).update(is_enabled=False)
    order = eb.sell(EVENT, TICKET_CLASS, 1)

    _deliver(client, eb, eb_connection, "order.placed", f"orders/{order['id']}/")

    assert _only_webhook().status == Status.IGNORED
    assert not SyncRun.objects.exists()


def test_a_disabled_connection_answers_200_and_ignores_the_delivery(
    client, eb, eb_connection, eb_listing
):
    eb_connection.is_enabled = False
    eb_connection.save()
    order = eb.sell(EVENT, TICKET_CLASS, 1)

    response = _deliver(
        client, eb, eb_connection, "order.placed", f"orders/{order['id']}/"
    )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert webhook.status == Status.IGNORED
    assert webhook.action == "order.placed"
    assert eb.requests == []
    assert not SyncRun.objects.exists()
    eb_listing.refresh_from_db()
    assert eb_listing.values_synced_at is None


# -- failures and retries --------------------------------------------------------------


def test_a_platform_down_leaves_it_failed_then_the_retry_processes_it(
    client, eb, eb_connection, eb_listing
):
    first = eb.sell(EVENT, TICKET_CLASS, 2)
    _deliver(client, eb, eb_connection, "order.placed", f"orders/{first['id']}/")
    second = eb.sell(EVENT, TICKET_CLASS, 3)
    eb.down = True
    before = timezone.now()

    response = _deliver(
        client, eb, eb_connection, "order.placed", f"orders/{second['id']}/"
    )

    assert response.status_code == 200  # stored; the work failed later
    webhook = PlatformWebhook.objects.latest("pk")
    assert (webhook.status, webhook.attempts) == (Status.FAILED, 1)
    assert "503" in webhook.error
    assert webhook.next_attempt_at > before
    assert webhook.processed_at is None
    eb_listing.refresh_from_db()
    assert (eb_listing.places_total, eb_listing.places_sold) == (100, 2)
    assert ExternalOrder.objects.filter(listing=eb_listing).count() == 1
    assert _session(eb_listing).external_sold_count == 2

    # Not yet due: nothing happens.
    not_yet = webhook.next_attempt_at - dt.timedelta(seconds=1)
    assert platform_webhooks_retry_due(now=not_yet) == 0
    eb.down = False
    assert platform_webhooks_retry_due(now=not_yet) == 0
    webhook.refresh_from_db()
    assert webhook.status == Status.FAILED

    due = webhook.next_attempt_at + dt.timedelta(seconds=1)
    assert platform_webhooks_retry_due(now=due) == 1

    webhook.refresh_from_db()
    assert (webhook.status, webhook.attempts, webhook.error) == (
        Status.PROCESSED,
        2,
        "",
    )
    assert webhook.next_attempt_at is None
    assert webhook.processed_at is not None
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 5
    assert ExternalOrder.objects.filter(listing=eb_listing).count() == 2
    assert _session(eb_listing).external_sold_count == 5
    assert platform_webhooks_retry_due(now=due) == 0  # processed: never again


def test_a_sync_that_fails_after_the_resource_was_fetched_is_retried(
    client, eb, eb_connection, eb_listing, monkeypatch
):
    """The order fetch works but the listing's own calls fail: the sync records the
    failure on its run instead of raising, and the delivery must still be retried."""
    first = eb.sell(EVENT, TICKET_CLASS, 2)
    _deliver(client, eb, eb_connection, "order.placed", f"orders/{first['id']}/")
    second = eb.sell(EVENT, TICKET_CLASS, 1)
    route = eb.route

    def ticket_classes_down(request):
        if "/ticket_classes/" in request.path:
            return Reply(503, {"error": "server_error"})
        return route(request)

    monkeypatch.setattr(eb, "route", ticket_classes_down)

    _deliver(client, eb, eb_connection, "order.placed", f"orders/{second['id']}/")

    webhook = PlatformWebhook.objects.latest("pk")
    assert webhook.status == Status.FAILED
    assert "503" in webhook.error
    assert webhook.next_attempt_at is not None
    run = SyncRun.objects.latest("pk")
    assert (run.trigger, run.status, run.listings_failed) == ("webhook", "failed", 1)
    eb_listing.refresh_from_db()
    assert (eb_listing.places_sold, eb_listing.is_stale) == (2, True)

    monkeypatch.setattr(eb, "route", route)
    assert platform_webhooks_retry_due(now=webhook.next_attempt_at) == 1

    webhook.refresh_from_db()
    assert webhook.status == Status.PROCESSED
    eb_listing.refresh_from_db()
    assert (eb_listing.places_sold, eb_listing.is_stale) == (3, False)


def test_a_sync_already_running_leaves_it_failed_for_later(
    client, eb, eb_connection, eb_listing
):
    order = eb.sell(EVENT, TICKET_CLASS, 2)
    with connection_sync_lock(eb_connection.pk) as taken:
        assert taken
        response = _deliver(
            client, eb, eb_connection, "order.placed", f"orders/{order['id']}/"
        )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert webhook.status == Status.FAILED
    assert webhook.next_attempt_at is not None
    assert not SyncRun.objects.exists()

    platform_webhooks_retry_due(now=webhook.next_attempt_at)
    webhook.refresh_from_db()
    assert webhook.status == Status.PROCESSED
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 2


def test_refused_credentials_are_retried_once_they_are_fixed(
    client, eb, eb_connection, eb_listing
):
    eb_connection.set_credentials("EBPRIV-REVOKED")
    eb_connection.save()
    order = eb.sell(EVENT, TICKET_CLASS, 2)

    _deliver(client, eb, eb_connection, "order.placed", f"orders/{order['id']}/")

    webhook = _only_webhook()
    assert webhook.status == Status.FAILED  # not a refused resource: ours to fix
    assert webhook.next_attempt_at is not None

    eb_connection.set_credentials(eb.token)
    eb_connection.save()
    platform_webhooks_retry_due(now=webhook.next_attempt_at)

    webhook.refresh_from_db()
    assert webhook.status == Status.PROCESSED
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 2


def test_retries_stop_after_the_last_attempt(client, eb, eb_connection, eb_listing):
    order = eb.sell(EVENT, TICKET_CLASS, 1)
    eb.down = True
    _deliver(client, eb, eb_connection, "order.placed", f"orders/{order['id']}/")
    webhook = _only_webhook()
    delays = []
    while webhook.next_attempt_at is not None:
        assert not Alert.objects.exists()  # retries left: nobody is told yet
        delays.append(webhook.next_attempt_at)
        platform_webhooks_retry_due(now=webhook.next_attempt_at)
        webhook.refresh_from_db()

    assert webhook.status == Status.FAILED
    assert webhook.attempts == 8
    assert len(delays) == 7
    far_future = timezone.now() + dt.timedelta(days=365)
    assert platform_webhooks_retry_due(now=far_future) == 0
    # The organiser hears of it once, with a link to the delivery in the admin.
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject) == (
        Alert.Kind.WEBHOOK_EXHAUSTED,
        f"platform-webhook:{webhook.pk}",
    )
    assert alert.organiser_id == eb_connection.organiser_id
    assert alert.link == f"/admin/integrations/platformwebhook/{webhook.pk}/change/"
    assert "8 attempts" in alert.message
    assert OutboxMessage.objects.filter(kind=EMAIL_KIND).count() == 1


def test_a_delivery_whose_task_was_never_queued_is_picked_up_later(
    client, eb, eb_connection, eb_listing, broker
):
    """The broker is down when the task is sent: the delivery is already stored, so
    the platform gets its 200 and the sweep processes it a minute later."""
    order = eb.sell(EVENT, TICKET_CLASS, 2)

    response = _deliver(
        client, eb, eb_connection, "order.placed", f"orders/{order['id']}/"
    )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.attempts) == (Status.RECEIVED, 0)
    assert webhook.processed_at is None
    assert platform_webhooks_retry_due() == 0  # maybe still queued: wait
    later = webhook.received_at + dt.timedelta(minutes=1)
    assert platform_webhooks_retry_due(now=later) == 1

    webhook.refresh_from_db()
    assert webhook.status == Status.PROCESSED
    assert webhook.processed_at is not None
    eb_listing.refresh_from_db()
    assert eb_listing.places_sold == 2
    assert platform_webhooks_retry_due(now=later + dt.timedelta(hours=1)) == 0


def test_processing_a_finished_delivery_again_changes_nothing(
    client, eb, eb_connection, eb_listing
):
    order = eb.sell(EVENT, TICKET_CLASS, 2)
    _deliver(client, eb, eb_connection, "order.placed", f"orders/{order['id']}/")
    webhook = _only_webhook()
    calls = len(eb.requests)

    again = platform_webhook_process(webhook_id=webhook.pk)

    assert (again.status, again.attempts) == (Status.PROCESSED, 1)
    assert len(eb.requests) == calls
    assert SyncRun.objects.count() == 1


# -- Humanitix (through a relay) -------------------------------------------------------


def test_a_humanitix_delivery_syncs_the_listing_of_that_date(client, hx, hx_connection):
    event_id = hx.add_event(dates=2)
    first_date, second_date = hx.date_ids(event_id)
    listing = _hx_listing(hx_connection, event_id, first_date)
    other = _hx_listing(hx_connection, event_id, second_date)
    hx.sell(event_id, first_date, 3)
    hx.sell(event_id, second_date, 1)

    response = _post(
        client,
        _url(hx_connection),
        {"eventId": event_id, "eventDateId": first_date, "action": "order.created"},
    )

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.action, webhook.resource_url) == (
        Status.PROCESSED,
        "order.created",
        f"{event_id}/{first_date}",
    )
    run = SyncRun.objects.get()
    assert (run.trigger, run.listings_synced) == ("webhook", 1)
    listing.refresh_from_db()
    assert (listing.places_total, listing.places_sold) == (100, 3)
    assert ExternalOrder.objects.get(listing=listing).quantity == 3
    assert _session(listing).external_sold_count == 3
    other.refresh_from_db()
    assert other.values_synced_at is None


def test_a_humanitix_delivery_without_a_date_syncs_every_date_of_the_event(
    client, hx, hx_connection
):
    event_id = hx.add_event(dates=2)
    first_date, second_date = hx.date_ids(event_id)
    listings = [
        _hx_listing(hx_connection, event_id, d) for d in (first_date, second_date)
    ]
    hx.sell(event_id, first_date, 2)
    hx.sell(event_id, second_date, 5)

    response = _post(client, _url(hx_connection), {"eventId": event_id})

    assert response.status_code == 200
    webhook = _only_webhook()
    assert (webhook.status, webhook.action) == (Status.PROCESSED, "changed")
    sold = [Listing.objects.get(pk=listing.pk).places_sold for listing in listings]
    assert sold == [2, 5]


def test_a_humanitix_event_no_listing_maps_is_ignored_without_a_call(
    client, hx, hx_connection
):
    _hx_listing(hx_connection, hx.add_event(), "65f0" + "0" * 20)

    response = _post(client, _url(hx_connection), {"eventId": "ab" * 12})

    assert response.status_code == 200
    assert _only_webhook().status == Status.IGNORED
    assert hx.requests == []
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"eventId": "not-an-id"},
        {"eventId": "AB" * 12},
        {"eventId": "ab" * 12 + "\n"},
        {"eventId": "ab" * 12 + "/x"},
        {"eventId": 123},
        {"eventDateId": "ab" * 12},
        {"eventId": "ab" * 12, "eventDateId": "../../x"},
        {"eventId": "ab" * 12, "eventDateId": "ab" * 12 + "\n"},
        {"eventId": "ab" * 12, "eventDateId": 7},
    ],
)
def test_a_humanitix_delivery_with_bad_ids_is_rejected(client, hx, hx_connection, body):
    response = _post(client, _url(hx_connection), body)

    assert response.status_code == 400
    webhook = _only_webhook()
    assert webhook.status == Status.REJECTED
    assert "Humanitix" in webhook.error
    assert webhook.resource_url == ""
    assert hx.requests == []


def test_a_delivery_claimed_by_one_sweep_is_not_taken_by_the_next(
    eb, eb_connection, eb_listing, monkeypatch
):
    from integrations.services import webhooks

    webhook = PlatformWebhook.objects.create(
        connection=eb_connection,
        platform="eventbrite",
        action="order.placed",
        resource_url="x",
        status=PlatformWebhook.Status.FAILED,
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1),
    )
    seen = []

    def slow_process(*, webhook_id):
        seen.append(webhook_id)
        # While this sweep works, the next one starts and finds nothing due.
        assert webhooks.platform_webhooks_retry_due() == 0
        return PlatformWebhook.objects.get(pk=webhook_id)

    monkeypatch.setattr(webhooks, "platform_webhook_process", slow_process)
    assert webhooks.platform_webhooks_retry_due() == 1
    assert seen == [webhook.pk]
    webhook.refresh_from_db()
    assert webhook.next_attempt_at > timezone.now()  # leased while processed


def test_rejected_platform_webhooks_are_purged_after_the_retention(
    client, eb, eb_connection, settings
):
    from integrations.tasks import platform_webhooks_rejected_purge_task

    for _ in range(2):
        assert _post(client, _url(eb_connection), b"not json").status_code == 400
    old, recent = PlatformWebhook.objects.order_by("pk")
    PlatformWebhook.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - dt.timedelta(days=31)
    )

    assert platform_webhooks_rejected_purge_task.apply().get() == 1

    assert list(PlatformWebhook.objects.values_list("pk", flat=True)) == [recent.pk]
