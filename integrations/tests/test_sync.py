"""Syncing a connection against the fake Billetweb over real HTTP: figures, imported
orders, partial failure keeping the last good values, the breaker, the cache, the
lock, and the oversold alert."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.selectors import session_availability
from bookings.tests.factories import BookingFactory
from events.models import Session
from integrations.exceptions import SyncAlreadyRunning
from integrations.models import ExternalOrder, Listing, OversoldAlert, SyncRun
from integrations.services import cache as listing_cache
from integrations.services.locks import connection_sync_lock
from integrations.services.sync import connection_sync
from integrations.tests.factories import ListingFactory
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from ticketing.lib.http import BreakerState, breaker_for
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(billetweb_fake):  # noqa: F811
    return billetweb_fake


@pytest.fixture
def connection(billetweb_connection):
    return billetweb_connection


def _listing(fake, connection, *, capacity=100, quota=100, sold=0, **session):
    event_id = fake.add_event()
    date_id = fake.add_date(event_id, quota=quota, total_sales=0)
    if sold:
        fake.sell(event_id, date_id, sold)
    return ListingFactory(
        connection=connection,
        session__capacity=capacity,
        session__event__organiser=connection.organiser,
        external_event_id=event_id,
        external_date_id=date_id,
        **session,
    )


def _sync(connection, **kwargs):
    return connection_sync(connection_id=connection.pk, trigger="manual", **kwargs)


def test_sync_brings_places_and_orders_into_the_sessions(fake, connection):
    first = _listing(fake, connection, sold=3)
    second = _listing(fake, connection, sold=5)

    run = _sync(connection)

    assert (run.status, run.listings_synced, run.listings_failed) == ("success", 2, 0)
    assert run.orders_imported == 2
    assert run.finished_at is not None
    assert run.duration_ms is not None
    for listing, sold in ((first, 3), (second, 5)):
        listing.refresh_from_db()
        assert (listing.places_total, listing.places_sold) == (100, sold)
        assert listing.values_synced_at is not None
        assert not listing.is_stale
        session = Session.objects.get(pk=listing.session_id)
        assert session.external_sold_count == sold
        assert not session.external_sync_failing
        order = ExternalOrder.objects.get(listing=listing)
        assert (order.status, order.quantity) == ("active", sold)
        assert order.buyer_email == "camille@example.fr"
        assert session_availability(session).available == 100 - sold
    actions = list(
        AuditEntry.objects.filter(object_id=str(run.pk), content_type__model="syncrun")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["integrations.sync_started", "integrations.sync_completed"]
    connection.refresh_from_db()
    assert connection.last_success_at is not None
    assert connection.last_error == ""


def test_reimport_is_idempotent_and_refunds_free_the_seats(fake, connection):
    listing = _listing(fake, connection, sold=2)
    _sync(connection)
    _sync(connection, force=True)
    assert ExternalOrder.objects.filter(listing=listing).count() == 1

    order = ExternalOrder.objects.get(listing=listing)
    for attendee_id in fake.attendee_ids(order.external_id):
        fake.refund(attendee_id)
    run = _sync(connection, force=True)

    order.refresh_from_db()
    assert (order.status, order.quantity) == ("cancelled", 0)
    assert all(not ticket["active"] for ticket in order.tickets.values())
    assert run.orders_imported == 1
    assert Session.objects.get(pk=listing.session_id).external_sold_count == 0
    # The second import asked only for what changed since the first one.
    attendee_calls = fake.calls("/attendees")
    assert "last_update" not in attendee_calls[0].query
    assert int(attendee_calls[-1].query["last_update"]) > 0


def test_a_failing_listing_keeps_its_last_good_values(fake, connection, settings):
    settings.INTEGRATIONS_SYNC_CONCURRENCY = 1  # listings in id order
    failing = _listing(fake, connection, sold=4)
    healthy = _listing(fake, connection, sold=1)
    _sync(connection)
    fake.sell(failing.external_event_id, failing.external_date_id, 2)
    fake.sell(healthy.external_event_id, healthy.external_date_id, 2)

    # Every attempt of the first listing's first call fails (1 try + 2 retries).
    fake.fail_next("500", "500", "500")
    run = _sync(connection, force=True)

    assert (run.status, run.listings_synced, run.listings_failed) == ("partial", 1, 1)
    assert run.errors[0]["listing"] == failing.pk
    assert "500" in run.errors[0]["message"]
    failing.refresh_from_db()
    healthy.refresh_from_db()
    assert (failing.places_sold, failing.is_stale) == (4, True)
    assert "500" in failing.last_error
    assert (healthy.places_sold, healthy.is_stale) == (3, False)
    failing_session = Session.objects.get(pk=failing.session_id)
    assert failing_session.external_sold_count == 4  # never zeroed
    assert session_availability(failing_session).is_external_stale
    assert not session_availability(
        Session.objects.get(pk=healthy.session_id)
    ).is_external_stale
    assert AuditEntry.objects.filter(
        action="integrations.sync_completed", object_id=str(run.pk)
    ).exists()

    # The next good sync clears the flag.
    _sync(connection, force=True)
    failing.refresh_from_db()
    assert (failing.places_sold, failing.is_stale, failing.last_error) == (6, False, "")
    assert not Session.objects.get(pk=failing.session_id).external_sync_failing


def test_a_platform_down_for_a_whole_run_fails_it_and_opens_the_breaker(
    fake, connection, settings
):
    settings.INTEGRATIONS_BREAKER_FAILURES = 2
    settings.INTEGRATIONS_BREAKER_RESET_SECONDS = 30
    # One listing at a time: in parallel, how many reach the platform before the
    # breaker opens depends on the machine's load.
    settings.INTEGRATIONS_SYNC_CONCURRENCY = 1
    listings = [_listing(fake, connection, sold=n + 1) for n in range(4)]
    _sync(connection)
    fake.down = True
    before = len(fake.requests)

    run = _sync(connection, force=True)

    assert (run.status, run.listings_synced, run.listings_failed) == ("failed", 0, 4)
    assert AuditEntry.objects.filter(
        action="integrations.sync_failed", object_id=str(run.pk)
    ).exists()
    # Two listings reached the platform (three attempts each); then the breaker
    # opened and the other two failed without a call.
    assert len(fake.requests) - before == 2 * 3
    assert sum(e["code"] == "CircuitOpen" for e in run.errors) == 2
    assert breaker_for("billetweb").status().state == BreakerState.OPEN
    for number, listing in enumerate(listings):
        listing.refresh_from_db()
        assert (listing.places_sold, listing.is_stale) == (number + 1, True)
        assert Session.objects.get(pk=listing.session_id).external_sold_count == (
            number + 1
        )


def test_the_breaker_closes_after_a_good_probe(fake, connection, settings):
    settings.INTEGRATIONS_BREAKER_FAILURES = 1
    settings.INTEGRATIONS_BREAKER_RESET_SECONDS = 0.3
    _listing(fake, connection, sold=1)
    fake.down = True
    _sync(connection)
    assert breaker_for("billetweb").status().state == BreakerState.OPEN
    fake.down = False

    import time

    time.sleep(0.5)  # past the 0.3 s pause, with a margin for a busy machine
    assert breaker_for("billetweb").status().state == BreakerState.HALF_OPEN
    run = _sync(connection, force=True)

    assert run.status == "success"
    assert breaker_for("billetweb").status().state == BreakerState.CLOSED


def test_within_the_ttl_no_call_is_made_until_invalidated(fake, connection):
    listing = _listing(fake, connection, sold=2)
    _sync(connection)
    calls = len(fake.requests)

    run = _sync(connection)
    assert (run.listings_synced, run.listings_cached, run.status) == (0, 1, "success")
    assert len(fake.requests) == calls

    listing_cache.listing_invalidate("billetweb", listing.pk)
    assert _sync(connection).listings_synced == 1
    calls = len(fake.requests)
    listing_cache.platform_invalidate("billetweb")
    assert _sync(connection).listings_synced == 1
    listing_cache.all_invalidate()
    assert _sync(connection).listings_synced == 1
    assert len(fake.requests) == calls + 4  # two calls per fetch
    assert _sync(connection).listings_cached == 1


def test_an_error_after_the_ttl_serves_the_stale_value_flagged(
    fake, connection, settings
):
    listing = _listing(fake, connection, sold=7)
    _sync(connection)
    listing_cache.listing_invalidate("billetweb", listing.pk)  # the TTL has passed
    fake.fail_always("malformed")

    run = _sync(connection)

    assert run.status == "failed"
    assert run.errors[0]["code"] == "MalformedResponse"
    session = Session.objects.get(pk=listing.session_id)
    availability = session_availability(session)
    assert (availability.external_sold, availability.is_external_stale) == (7, True)


def test_a_sync_already_running_is_not_started_twice(fake, connection):
    _listing(fake, connection)
    with connection_sync_lock(connection.pk) as taken:
        assert taken
        with pytest.raises(SyncAlreadyRunning):
            _sync(connection)
    assert SyncRun.objects.filter(connection=connection).count() == 0
    assert _sync(connection).status == "success"


def test_live_holds_count_towards_an_oversold_session_and_expired_ones_do_not(
    fake, connection
):
    listing = _listing(fake, connection, capacity=10, quota=50, sold=0)
    session = Session.objects.get(pk=listing.session_id)
    BookingFactory(session=session, quantity=5, status="confirmed")
    Session.objects.filter(pk=session.pk).update(sold_count=5)
    BookingFactory(session=session, quantity=3, status="pending")
    BookingFactory(
        session=session,
        quantity=4,
        status="pending",
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    fake.sell(listing.external_event_id, listing.external_date_id, 3)

    _sync(connection)

    alert = OversoldAlert.objects.get(session=session, resolved_at__isnull=True)
    assert (alert.sold_here, alert.held_here, alert.sold_external) == (5, 3, 3)
    assert alert.oversold_by == 1


def test_external_sales_past_capacity_raise_an_alert_and_cancel_nothing(
    fake, connection
):
    listing = _listing(fake, connection, capacity=10, quota=50, sold=0)
    session = Session.objects.get(pk=listing.session_id)
    confirmed = BookingFactory(session=session, quantity=8, status="confirmed")
    Session.objects.filter(pk=session.pk).update(sold_count=8)
    order_id = fake.sell(listing.external_event_id, listing.external_date_id, 5)

    _sync(connection)

    alert = OversoldAlert.objects.get(session=session, resolved_at__isnull=True)
    assert (alert.capacity, alert.sold_here, alert.sold_external) == (10, 8, 5)
    assert alert.oversold_by == 3
    confirmed.refresh_from_db()
    assert confirmed.status == "confirmed"
    assert session_availability(Session.objects.get(pk=session.pk)).available == 0
    assert (
        AuditEntry.objects.filter(action="integrations.session.oversold").count() == 1
    )

    _sync(connection, force=True)  # still oversold: the same alert, no new one
    assert OversoldAlert.objects.filter(session=session).count() == 1

    for attendee_id in fake.attendee_ids(order_id)[:3]:
        fake.refund(attendee_id)
    _sync(connection, force=True)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert session_availability(Session.objects.get(pk=session.pk)).available == 0


def test_listings_are_fetched_in_parallel(fake, connection, settings):
    settings.INTEGRATIONS_SYNC_CONCURRENCY = 8
    for _ in range(8):
        _listing(fake, connection, sold=1)
    fake.latency = 0.2

    run = _sync(connection)

    assert run.listings_synced == 8
    # Counted by the fake, not timed: a loaded machine stretches any wall-clock bound.
    # One after another, the fake would never see two requests at once.
    assert fake.max_in_flight >= 4
    assert Listing.objects.filter(connection=connection, is_stale=False).count() == 8


def test_the_cache_command_forgets_per_listing_platform_and_all(fake, connection):
    from django.core.management import CommandError, call_command

    listing = _listing(fake, connection, sold=1)
    _sync(connection)
    for arguments in (
        ["--listing", str(listing.pk)],
        ["--platform", "billetweb"],
        ["--all"],
    ):
        assert _sync(connection).listings_cached == 1
        call_command("sync_cache_clear", *arguments)
        assert _sync(connection).listings_synced == 1
    with pytest.raises(CommandError, match="No listing"):
        call_command("sync_cache_clear", "--listing", "987654321")
    with pytest.raises(CommandError, match="Say what"):
        call_command("sync_cache_clear")


def test_a_disabled_or_deleted_listing_stops_counting(fake, connection):
    from integrations.services.connections import listing_save

    first = _listing(fake, connection, sold=2)
    second = _listing(fake, connection, sold=3)
    Listing.objects.filter(pk=second.pk).update(session=first.session)
    _sync(connection)
    session = Session.objects.get(pk=first.session_id)
    assert session.external_sold_count == 5

    second.refresh_from_db()
    second.is_enabled = False
    listing_save(listing=second)
    assert Session.objects.get(pk=session.pk).external_sold_count == 2

    first.delete()
    assert Session.objects.get(pk=session.pk).external_sold_count == 0


def test_only_listings_of_sessions_that_have_not_ended_are_synced(fake, connection):
    now = timezone.now()
    started = _listing(
        fake,
        connection,
        sold=2,
        session__starts_at=now - dt.timedelta(hours=1),
        session__ends_at=now + dt.timedelta(hours=2),
    )
    ended = _listing(
        fake,
        connection,
        sold=4,
        session__starts_at=now - dt.timedelta(days=2),
        session__ends_at=now - dt.timedelta(days=2) + dt.timedelta(hours=3),
    )

    run = _sync(connection, force=True)

    assert (run.status, run.listings_synced, run.listings_failed) == ("success", 1, 0)
    started.refresh_from_db()
    ended.refresh_from_db()
    assert started.places_sold == 2
    assert (ended.places_sold, ended.values_synced_at) == (0, None)
    assert not fake.calls(f"/event/{ended.external_event_id}/")
    assert Session.objects.get(pk=ended.session_id).external_sold_count == 0


def test_a_bug_while_writing_one_listing_fails_the_run_and_the_others_are_written(
    fake, connection, settings, monkeypatch
):
    from integrations.services import apply as apply_module
    from integrations.services import sync as sync_module

    settings.INTEGRATIONS_SYNC_CONCURRENCY = 4
    listings = [_listing(fake, connection, sold=2) for _ in range(6)]
    broken = listings[2]
    write = apply_module.listing_apply_success

    def apply_or_bug(listing, fetched):
        if listing.pk == broken.pk:
            raise RuntimeError("a bug")
        return write(listing, fetched)

    monkeypatch.setattr(sync_module, "listing_apply_success", apply_or_bug)

    with pytest.raises(RuntimeError, match="a bug"):
        _sync(connection)

    run = SyncRun.objects.get(connection=connection)
    assert run.status == "failed"
    assert run.errors[-1]["code"] == "internal_error"
    written = Listing.objects.filter(connection=connection, places_sold=2)
    assert set(written.values_list("pk", flat=True)) == {
        listing.pk for listing in listings if listing.pk != broken.pk
    }
