"""Rapid edits coalesce into a handful of pushes, with workers dispatching for real
(threads on PostgreSQL, the 2 s delay on the clock), and a change's outbox row
commits or rolls back with the change."""

import threading
import time

import pytest
from django.db import connection, transaction

from events.models import Event
from events.tests.factories import EventFactory, OrganiserFactory, TicketTypeFactory
from integrations.stripe_catalog.services import KIND
from ticketing import outbox
from ticketing.models import OutboxMessage

from .conftest import pending


def _worker(stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            outbox.dispatch(kinds=[KIND])
            time.sleep(0.1)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_fifty_rapid_edits_make_a_handful_of_pushes(account, platform):
    organiser, acct = account
    event = EventFactory(organiser=organiser, title="Edit 0")
    ticket_type = TicketTypeFactory(event=event, price_minor=1000)
    stop = threading.Event()
    workers = [threading.Thread(target=_worker, args=(stop,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    try:
        for n in range(1, 51):  # 50 admin saves, 50 ms apart
            with transaction.atomic():
                event.title = f"Edit {n}"
                event.save()
                ticket_type.price_minor = 1000 + n
                ticket_type.save()
            time.sleep(0.05)
        editing = time.monotonic() - started
        deadline = time.monotonic() + 15
        while pending() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)

    assert pending() == 0
    product_pushes = (
        platform.calls["products.create"] + platform.calls["products.update"]
    )
    price_pushes = platform.calls["prices.create"]
    # At most one push per object per 2 s while the edits last, plus the last one.
    most = int(editing // 2) + 2
    assert 1 <= product_pushes <= most, (editing, platform.calls)
    assert 1 <= price_pushes <= most, (editing, platform.calls)
    assert product_pushes <= 10  # a handful, not 50
    [product] = platform.products_on(acct)
    assert product["name"] == "Edit 50"
    active = [p for p in platform.prices_on(acct) if p["active"]]
    assert [p["unit_amount"] for p in active] == [1050]
    assert OutboxMessage.objects.filter(kind=KIND).exclude(status="done").count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_queues_nothing(account):
    organiser, acct = account
    queued_inside = []

    def failing_save():
        with transaction.atomic():
            EventFactory(organiser=organiser)
            queued_inside.append(pending())
            raise RuntimeError("the save failed")

    with pytest.raises(RuntimeError):
        failing_save()
    assert queued_inside == [1]
    assert pending() == 0
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_save_outside_a_transaction_still_queues_its_push(account):
    organiser, acct = account
    event = EventFactory(organiser=organiser)
    row = OutboxMessage.objects.get(kind=KIND)
    assert row.key == f"event:{event.pk}"
    assert (row.next_attempt_at - row.created_at).total_seconds() >= 1.9


@pytest.mark.django_db(transaction=True)
def test_a_new_connected_account_queues_the_catalogue_in_its_own_transaction(platform):
    """The resync is written with the account, not after its commit: a crash in
    between could lose it; a rolled-back link queues nothing."""
    from payments.services.connect import connected_account_link

    organiser = OrganiserFactory(currency="EUR")
    EventFactory(organiser=organiser)  # no account yet: nothing queued
    assert pending() == 0
    seen_before_commit = []

    def link_then_fail():
        with transaction.atomic():
            connected_account_link(organiser_id=organiser.pk)
            seen_before_commit.append(pending())
            raise RuntimeError("the request failed after the link")

    with pytest.raises(RuntimeError):
        link_then_fail()
    assert not OutboxMessage.objects.filter(kind=KIND).exists()

    with transaction.atomic():
        connected_account_link(organiser_id=organiser.pk)
        seen_before_commit.append(pending())
    assert seen_before_commit == [1, 1]
    # Committed with the account (the dispatch it kicks may already have pushed it).
    assert OutboxMessage.objects.filter(kind=KIND).count() == 1
