"""Events and ticket types pushed to Stripe as Products and Prices, through the
official SDK against the fake Stripe over HTTP; the Stripe side is checked against
what the source document says it must hold."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from events.models import Event
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
)
from integrations.stripe_catalog.models import CatalogSyncLog, PriceLink, ProductLink
from integrations.stripe_catalog.push import handle
from integrations.stripe_catalog.services import ALERT_KIND, KIND, catalog_resync
from ticketing import outbox
from ticketing.models import Alert, OutboxMessage

from .conftest import pending, run_pushes

pytestmark = pytest.mark.django_db


def _catalogue(organiser, *, description="A night of music"):
    event = EventFactory(
        organiser=organiser,
        title="Jazz night",
        description=description,
        slug="jazz-night",
    )
    session = SessionFactory(event=event)
    adult = TicketTypeFactory(
        event=event, name="Adult", price_minor=2500, allocation=80
    )
    child = TicketTypeFactory(event=event, name="Child", price_minor=1200)
    return event, session, adult, child


def _by_ticket(prices):
    return {p["metadata"]["ticket_type_id"]: p for p in prices if p["active"]}


def test_create_pushes_product_then_prices(account, platform):
    organiser, acct = account
    event, session, adult, child = _catalogue(organiser)

    run_pushes()

    [product] = platform.products_on(acct)
    assert product["name"] == "Jazz night"
    assert product["description"] == "A night of music"
    assert product["active"] is True
    assert product["metadata"] == {
        "event_id": str(event.pk),
        "event_slug": "jazz-night",
        "organiser_id": str(organiser.pk),
        "event_start": session.starts_at.isoformat(),
        "event_end": session.ends_at.isoformat(),
        "last_synced": product["metadata"]["last_synced"],
    }
    assert dt.datetime.fromisoformat(product["metadata"]["last_synced"])
    prices = _by_ticket(platform.prices_on(acct))
    assert prices[str(adult.pk)]["unit_amount"] == 2500
    assert prices[str(adult.pk)]["currency"] == "eur"
    assert prices[str(adult.pk)]["nickname"] == "Adult"
    assert prices[str(adult.pk)]["product"] == product["id"]
    assert prices[str(adult.pk)]["metadata"]["capacity"] == "80"
    assert prices[str(child.pk)]["metadata"]["capacity"] == "0"
    assert prices[str(child.pk)]["unit_amount"] == 1200
    # Nothing on the platform's own account, every call acted as the organiser's.
    assert platform.products_on("") == []
    assert {r.headers.get("stripe-account") for r in platform.requests} == {acct}
    assert all(r.idempotency_key.startswith("catalog:") for r in platform.requests)
    logs = CatalogSyncLog.objects.filter(status="success")
    assert sorted(logs.values_list("entity", "action")) == [
        ("event", "create"),
        ("ticket_type", "create"),
        ("ticket_type", "create"),
    ]
    assert pending() == 0


def test_description_cut_to_stripes_limit(account, platform):
    organiser, acct = account
    TicketTypeFactory(event=EventFactory(organiser=organiser, description="x" * 40_500))
    run_pushes()
    [product] = platform.products_on(acct)
    assert len(product["description"]) == 40_000


def test_rename_updates_the_same_product(account, platform):
    organiser, acct = account
    event, *_ = _catalogue(organiser)
    run_pushes()
    [before] = platform.products_on(acct)

    with transaction.atomic():
        event.title = "Jazz night (late show)"
        event.description = ""
        event.save()
    run_pushes()

    [after] = platform.products_on(acct)
    assert after["id"] == before["id"]
    assert after["name"] == "Jazz night (late show)"
    assert after["description"] is None
    assert platform.calls["products.create"] == 1
    assert platform.calls["products.update"] == 1
    assert platform.calls["prices.create"] == 2  # prices untouched by a rename


def test_unchanged_save_costs_no_call(account, platform):
    organiser, acct = account
    event, *_ = _catalogue(organiser)
    run_pushes()
    calls = sum(platform.calls.values())
    with transaction.atomic():
        event.save()
    run_pushes()
    assert sum(platform.calls.values()) == calls
    assert pending() == 0


def test_reprice_creates_a_new_price_and_archives_the_old(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    old = _by_ticket(platform.prices_on(acct))[str(adult.pk)]

    with transaction.atomic():
        adult.price_minor = 3000
        adult.name = "Adult (standard)"
        adult.save()
    run_pushes()

    prices = {p["id"]: p for p in platform.prices_on(acct)}
    assert prices[old["id"]]["active"] is False
    assert prices[old["id"]]["unit_amount"] == 2500  # never changed in place
    current = _by_ticket(prices.values())
    assert current[str(adult.pk)]["unit_amount"] == 3000
    assert current[str(adult.pk)]["nickname"] == "Adult (standard)"
    assert current[str(adult.pk)]["id"] != old["id"]
    assert len(current) == 2  # one active Price per ticket type
    link = PriceLink.objects.get(ticket_type_id=adult.pk)
    assert (link.price_id, link.superseded_price_id) == (
        current[str(adult.pk)]["id"],
        "",
    )
    assert (
        CatalogSyncLog.objects.filter(action="reprice", object_id=adult.pk).count() == 1
    )


def test_currency_change_reprices_every_ticket_type(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        event.currency = "GBP"
        event.save()
    run_pushes()
    current = _by_ticket(platform.prices_on(acct))
    assert {p["currency"] for p in current.values()} == {"gbp"}
    assert len(platform.prices_on(acct)) == 4
    assert sum(not p["active"] for p in platform.prices_on(acct)) == 2


def test_name_only_change_updates_the_price_in_place(account, platform):
    organiser, acct = account
    _, _, adult, _ = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        adult.name = "Grown-up"
        adult.allocation = 60
        adult.save()
    run_pushes()
    assert platform.calls["prices.create"] == 2
    price = _by_ticket(platform.prices_on(acct))[str(adult.pk)]
    assert (price["nickname"], price["metadata"]["capacity"]) == ("Grown-up", "60")


def test_unpublish_archives_the_product(account, platform):
    organiser, acct = account
    event, *_ = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        event.status = Event.Status.DRAFT
        event.save()
    run_pushes()
    [product] = platform.products_on(acct)
    assert product["active"] is False
    assert CatalogSyncLog.objects.filter(entity="event", action="archive").count() == 1
    with transaction.atomic():
        event.status = Event.Status.PUBLISHED
        event.save()
    run_pushes()
    [product] = platform.products_on(acct)
    assert product["active"] is True


def test_delete_archives_product_and_prices(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        event.delete()
    run_pushes()
    [product] = platform.products_on(acct)
    assert product["active"] is False
    prices = platform.prices_on(acct)
    assert len(prices) == 2
    assert not any(p["active"] for p in prices)
    assert not ProductLink.objects.filter(is_active=True).exists()
    assert not PriceLink.objects.filter(is_active=True).exists()


def test_deleting_a_ticket_type_archives_its_price(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        child.delete()
    run_pushes()
    active = _by_ticket(platform.prices_on(acct))
    assert list(active) == [str(adult.pk)]
    [product] = platform.products_on(acct)
    assert product["active"] is True


def test_product_missing_at_stripe_is_recreated_with_its_prices(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    [gone] = platform.products_on(acct)
    platform.product_vanish(gone["id"])

    with transaction.atomic():
        event.title = "Jazz night, again"
        event.save()
    run_pushes()

    [product] = platform.products_on(acct)
    assert product["id"] != gone["id"]
    assert product["name"] == "Jazz night, again"
    prices = _by_ticket(platform.prices_on(acct))
    assert {p["product"] for p in prices.values()} == {product["id"]}
    assert set(prices) == {str(adult.pk), str(child.pk)}
    assert CatalogSyncLog.objects.filter(action="recreate").count() == 1


def test_a_price_for_a_product_gone_at_stripe_makes_the_product_again(
    account, platform
):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    run_pushes()
    [gone] = platform.products_on(acct)
    platform.product_vanish(gone["id"])

    with transaction.atomic():
        adult.price_minor = 2600
        adult.save()
    run_pushes()

    [product] = platform.products_on(acct)
    assert product["id"] != gone["id"]
    assert product["name"] == "Jazz night"
    prices = _by_ticket(platform.prices_on(acct))
    assert prices[str(adult.pk)]["unit_amount"] == 2600
    assert {p["product"] for p in prices.values()} == {product["id"]}
    assert set(prices) == {str(adult.pk), str(child.pk)}  # the child's came back too
    assert not OutboxMessage.objects.filter(kind=KIND, status="dead").exists()


def test_price_push_first_pushes_its_product(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    OutboxMessage.objects.filter(kind=KIND, key=f"event:{event.pk}").delete()

    run_pushes()

    [product] = platform.products_on(acct)
    assert product["name"] == "Jazz night"
    assert {p["product"] for p in platform.prices_on(acct)} == {product["id"]}
    assert platform.calls["products.create"] == 1


def test_organiser_without_account_is_skipped_with_a_log_row(platform):
    organiser = OrganiserFactory()
    event = EventFactory(organiser=organiser)
    TicketTypeFactory(event=event)
    assert pending() == 0  # not on Connect: edits queue nothing

    catalog_resync(organiser_id=organiser.pk)
    run_pushes()

    skipped = CatalogSyncLog.objects.filter(organiser=organiser)
    assert sorted(skipped.values_list("entity", "status")) == [
        ("event", "skipped"),
        ("ticket_type", "skipped"),
    ]
    assert sum(platform.calls.values()) == 0
    assert pending() == 0


def test_rate_limit_storm_delays_but_loses_nothing(account, platform):
    organiser, acct = account
    event, _, adult, child = _catalogue(organiser)
    platform.fail_next(429, times=4, retry_after=7)

    started = timezone.now()
    assert outbox.dispatch(kinds=[KIND]) == 0  # first attempt waits 2 s
    OutboxMessage.objects.filter(kind=KIND).update(next_attempt_at=started)
    outbox.dispatch(kinds=[KIND])

    waiting = OutboxMessage.objects.filter(kind=KIND, status="pending")
    assert waiting.count() == 3
    failed = waiting.exclude(attempts=0)
    assert failed.count() == 3
    for row in failed:  # Stripe's Retry-After honoured
        assert row.next_attempt_at >= started + dt.timedelta(seconds=6)
        assert "429" in row.last_error or "Stripe" in row.last_error
    assert CatalogSyncLog.objects.filter(status="failed").count() == 3
    alert = Alert.objects.get(kind=ALERT_KIND, resolved_at__isnull=True)
    assert alert.organiser_id == organiser.pk

    run_pushes()

    assert len(platform.products_on(acct)) == 1
    assert len(_by_ticket(platform.prices_on(acct))) == 2
    assert not OutboxMessage.objects.filter(kind=KIND).exclude(status="done").exists()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_rejected_push_is_dead_and_logged(account, platform):
    organiser, acct = account
    EventFactory(organiser=organiser)
    platform.fail_next(400, message="Invalid request")
    run_pushes(rounds=1)
    row = OutboxMessage.objects.get(kind=KIND)
    assert row.status == "dead"
    log = CatalogSyncLog.objects.get()
    assert (log.status, log.account_id) == ("failed", acct)
    assert "Invalid request" in log.error


def test_a_row_run_again_after_a_lost_answer_makes_no_second_product(account, platform):
    organiser, acct = account
    EventFactory(organiser=organiser)
    message = OutboxMessage.objects.get(kind=KIND)
    handle(message)
    ProductLink.objects.all().delete()  # our write lost, Stripe's done

    handle(message)

    assert len(platform.products_on(acct)) == 1
    assert platform.last("products.create").headers.get("idempotency-key")
    assert ProductLink.objects.get().product_id == platform.products_on(acct)[0]["id"]


def test_resync_twice_coalesces_and_creates_nothing_new(account, platform):
    organiser, acct = account
    _catalogue(organiser)
    run_pushes()
    creates = platform.calls["products.create"] + platform.calls["prices.create"]

    catalog_resync(organiser_id=organiser.pk)
    catalog_resync(organiser_id=organiser.pk)
    assert pending() == 3  # one row per object

    run_pushes()
    assert (
        platform.calls["products.create"] + platform.calls["prices.create"] == creates
    )
    assert len(platform.products_on(acct)) == 1
    assert len(platform.prices_on(acct)) == 2


def test_session_change_updates_event_dates(account, platform):
    organiser, acct = account
    event, session, *_ = _catalogue(organiser)
    run_pushes()
    with transaction.atomic():
        session.ends_at = session.ends_at + dt.timedelta(hours=1)
        session.save()
    run_pushes()
    [product] = platform.products_on(acct)
    assert product["metadata"]["event_end"] == session.ends_at.isoformat()
