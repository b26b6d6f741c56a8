"""The scheduled path end to end: a connection's beat entry, read by beat's own
DatabaseScheduler, sent through the real Redis broker and run by a real worker."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from integrations.models import SyncRun
from integrations.services.connections import (
    SCHEDULED_TASK,
    connection_delete,
    connection_save,
)
from integrations.tests.factories import ConnectionFactory, ListingFactory
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from ticketing.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connection(billetweb_fake):  # noqa: F811
    connection = ConnectionFactory.build(
        organiser=ConnectionFactory().organiser, account_id=billetweb_fake.user
    )
    ConnectionFactory._meta.model.objects.filter(
        organiser=connection.organiser
    ).delete()
    return connection_save(connection=connection, token=billetweb_fake.key)


def test_saving_a_connection_keeps_its_beat_entry_in_step(connection):
    task = PeriodicTask.objects.get(name=connection.schedule_name)
    assert (task.task, task.args, task.enabled) == (
        SCHEDULED_TASK,
        f"[{connection.pk}]",
        True,
    )
    assert (task.interval.every, task.interval.period) == (15, "minutes")

    connection.sync_interval_minutes = 5
    connection.is_enabled = False
    connection_save(connection=connection)
    task.refresh_from_db()
    assert (task.interval.every, task.enabled) == (5, False)

    connection_delete(connection=connection)
    assert not PeriodicTask.objects.filter(name=connection.schedule_name).exists()


def test_beat_sends_the_sync_through_redis_and_a_worker_runs_it(
    connection,
    billetweb_fake,  # noqa: F811
):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs the Redis broker (REDIS_URL), as `make test` sets it")
    event_id = billetweb_fake.add_event()
    date_id = billetweb_fake.add_date(event_id, quota=30)
    billetweb_fake.sell(event_id, date_id, 4)
    listing = ListingFactory(
        connection=connection, external_event_id=event_id, external_date_id=date_id
    )
    # A queue of our own, so that no other worker on this machine takes the task.
    queue = f"test-beat-{uuid.uuid4().hex[:8]}"
    # The last run was one interval and a minute ago: the entry is due now.
    PeriodicTask.objects.filter(name=connection.schedule_name).update(
        queue=queue, last_run_at=timezone.now() - dt.timedelta(minutes=16)
    )

    scheduler = DatabaseScheduler(app=app, lazy=True)
    entry = scheduler.all_as_schedule()[connection.schedule_name]
    assert entry.task == "integrations.tasks.connection_sync_scheduled"
    assert entry.schedule.run_every == dt.timedelta(minutes=15)
    assert entry.is_due().is_due

    app.conf.task_always_eager = False
    with start_worker(app, queues=[queue], perform_ping_check=False):
        scheduler.apply_async(entry)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run = SyncRun.objects.filter(connection=connection).first()
            if run is not None and run.finished_at is not None:
                break
            time.sleep(0.1)

    run = SyncRun.objects.get(connection=connection)
    assert (run.trigger, run.status, run.listings_synced) == ("schedule", "success", 1)
    listing.refresh_from_db()
    assert listing.places_sold == 4
