"""`POST /api/v1/integrations/{platform}/sync/` against the fake Billetweb."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection

from events.tests.factories import OrganiserFactory
from integrations.models import SyncRun
from integrations.services.locks import connection_sync_lock, connection_sync_lock_owner
from integrations.tests.factories import ListingFactory
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401
from partner_api.tests.api_fixtures import api_key, get, post
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/integrations/billetweb/sync/"


@pytest.fixture
def fake(billetweb_fake):  # noqa: F811
    return billetweb_fake


@pytest.fixture
def connection(billetweb_connection):
    return billetweb_connection


def _listing(fake, connection, sold):
    event_id = fake.add_event()
    date_id = fake.add_date(event_id, quota=40)
    fake.sell(event_id, date_id, sold)
    return ListingFactory(
        connection=connection,
        external_event_id=event_id,
        external_date_id=date_id,
    )


def test_sync_runs_and_reports_partial_success(client, fake, connection):
    good = _listing(fake, connection, sold=3)
    ListingFactory(
        connection=connection,
        external_event_id=good.external_event_id,
        external_date_id="999999",
    )  # a date Billetweb does not have
    plain = api_key(connection.organiser, scopes=("sync",))

    response = post(client, URL, {}, plain)

    # Tasks run in-process in tests: the run has finished when the 202 is sent.
    assert response.status_code == 202
    run = SyncRun.objects.get(connection=connection)
    assert response["Location"] == f"http://testserver{URL}{run.pk}/"
    body = get(client, response["Location"], plain).json()
    assert response.json() == body
    assert (body["id"], body["status"], body["trigger"]) == (run.pk, "partial", "api")
    assert (body["synced"], body["failed"]) == (1, 1)
    assert body["duration_ms"] >= 0
    assert body["finished_at"] is not None
    assert body["errors"][0]["code"] == "ExternalRejected"
    assert "999999" in body["errors"][0]["message"]
    assert (run.trigger, run.status) == ("api", "partial")
    started = AuditEntry.objects.get(
        action="integrations.sync_started", object_id=str(run.pk)
    )
    assert started.actor_label.startswith("api key partner")
    completed = AuditEntry.objects.get(
        action="integrations.sync_completed", object_id=str(run.pk)
    )
    assert completed.actor_label.startswith("api key partner")
    good.refresh_from_db()
    assert good.places_sold == 3


def test_sync_needs_the_sync_scope_and_a_key(client, connection):
    assert post(client, URL, {}).status_code == 401
    read_only = api_key(connection.organiser, scopes=("read", "write"))
    response = post(client, URL, {}, read_only)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not SyncRun.objects.exists()


def test_another_organisers_connection_is_not_found(client, connection):
    stranger = api_key(OrganiserFactory(), scopes=("sync",))
    response = post(client, URL, {}, stranger)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not SyncRun.objects.exists()


def test_unknown_platform_is_not_found(client, connection):
    plain = api_key(connection.organiser, scopes=("sync",))
    response = post(client, "/api/v1/integrations/ticketmaster/sync/", {}, plain)
    assert response.status_code == 404


def test_a_sync_already_running_answers_409(client, connection):
    plain = api_key(connection.organiser, scopes=("sync",))
    with connection_sync_lock(connection.pk):
        response = post(client, URL, {}, plain)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_running"
    assert not SyncRun.objects.exists()


def test_a_disabled_connection_answers_409(client, connection):
    connection.is_enabled = False
    connection.save()
    plain = api_key(connection.organiser, scopes=("sync",))
    response = post(client, URL, {}, plain)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "connection_not_ready"


# -- the sync as a job ----------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Runs are queued, not run: the test plays the worker with `work(args)`."""
    from integrations import tasks

    sent: list[tuple] = []
    monkeypatch.setattr(
        tasks.sync_run_execute_task, "delay", lambda *args: sent.append(args)
    )
    return sent


@pytest.fixture
def gate(fake, settings):
    """Requests for a gated Billetweb event wait until the gate opens."""
    settings.INTEGRATIONS_HTTP_TIMEOUT = (1.0, 10.0)
    opened = threading.Event()
    gated: set[str] = set()
    route = fake.route

    def held_route(request):
        if any(f"/event/{event_id}/" in request.path for event_id in gated):
            opened.wait(10)
        return route(request)

    fake.route = held_route
    yield gated, opened
    opened.set()


def _in_thread(target, *args, **kwargs) -> threading.Thread:
    def run():
        try:
            target(*args, **kwargs)
        finally:
            db_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(client, url, plain, done, seconds=10.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = get(client, url, plain).json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_post_answers_202_and_get_shows_progress_then_success(
    client, fake, connection, queued, gate
):
    from integrations.tasks import sync_run_execute_task

    gated, opened = gate
    _listing(fake, connection, sold=3)
    slow = _listing(fake, connection, sold=5)
    gated.add(slow.external_event_id)
    plain = api_key(connection.organiser, scopes=("sync",))

    response = post(client, URL, {}, plain)

    assert response.status_code == 202
    run = SyncRun.objects.get(connection=connection)
    location = response["Location"]
    assert location == f"http://testserver{URL}{run.pk}/"
    body = response.json()
    assert (body["id"], body["status"], body["synced"]) == (run.pk, "running", 0)
    assert body["finished_at"] is None
    assert get(client, location, plain).json()["status"] == "running"
    assert queued == [(run.pk, None, False, _started_by(run))]

    worker = _in_thread(sync_run_execute_task.apply, args=queued[0])
    during = _until(client, location, plain, lambda body: body["synced"] == 1)
    assert (during["status"], during["synced"], during["failed"]) == ("running", 1, 0)
    assert during["finished_at"] is None
    opened.set()
    worker.join(20)

    after = get(client, location, plain).json()
    assert (after["status"], after["synced"], after["failed"]) == ("success", 2, 0)
    assert after["orders_imported"] == 2
    assert after["finished_at"] is not None
    slow.refresh_from_db()
    assert slow.places_sold == 5
    assert SyncRun.objects.filter(connection=connection).count() == 1


def _started_by(run) -> str:
    return AuditEntry.objects.get(
        action="integrations.sync_started", object_id=str(run.pk)
    ).actor_label


def test_a_second_post_while_queued_or_running_reuses_the_run(
    client, fake, connection, queued
):
    _listing(fake, connection, sold=1)
    plain = api_key(connection.organiser, scopes=("sync",))

    first = post(client, URL, {}, plain)
    second = post(client, URL, {}, plain)

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["id"] == first.json()["id"]
    assert second["Location"] == first["Location"]
    assert SyncRun.objects.filter(connection=connection).count() == 1
    assert len(queued) == 1  # one task for the one run


def test_a_post_during_a_scheduled_sync_joins_it(client, fake, connection, gate):
    from integrations.tasks import connection_sync_scheduled_task

    gated, opened = gate
    gated.add(_listing(fake, connection, sold=2).external_event_id)
    plain = api_key(connection.organiser, scopes=("sync",))
    worker = _in_thread(connection_sync_scheduled_task.apply, args=(connection.pk,))
    deadline = time.monotonic() + 10
    while not SyncRun.objects.filter(connection=connection).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    scheduled = SyncRun.objects.get(connection=connection)

    response = post(client, URL, {}, plain)

    opened.set()
    worker.join(20)
    assert response.status_code == 202
    body = response.json()
    assert (body["id"], body["trigger"], body["status"]) == (
        scheduled.pk,
        "schedule",
        "running",
    )
    assert SyncRun.objects.filter(connection=connection).count() == 1
    scheduled.refresh_from_db()
    assert scheduled.status == "success"


def test_a_run_left_running_by_a_lost_worker_is_failed_and_replaced(
    client, fake, connection
):
    _listing(fake, connection, sold=1)
    lost = SyncRun.objects.create(
        connection=connection, platform="billetweb", trigger="api"
    )  # running, and nothing holds the connection's lock
    plain = api_key(connection.organiser, scopes=("sync",))

    response = post(client, URL, {}, plain)

    assert response.status_code == 202
    assert response.json()["id"] != lost.pk
    assert response.json()["status"] == "success"
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert lost.finished_at is not None
    assert lost.errors[-1]["code"] == "abandoned"


def test_a_broker_that_is_down_fails_the_run_and_frees_the_connection(
    client, fake, connection, monkeypatch
):
    from integrations import tasks

    def down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.sync_run_execute_task, "delay", down)
    plain = api_key(connection.organiser, scopes=("sync",))

    response = post(client, URL, {}, plain)

    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    assert response.json()["errors"] == [
        {"code": "not_queued", "message": "The sync could not be queued."}
    ]
    assert connection_sync_lock_owner(connection.pk) is None


def test_a_run_is_seen_only_by_its_organiser_and_platform(client, fake, connection):
    plain = api_key(connection.organiser, scopes=("sync",))
    run_id = post(client, URL, {}, plain).json()["id"]
    stranger = api_key(OrganiserFactory(), scopes=("sync",))
    reader = api_key(connection.organiser, scopes=("read",))

    assert get(client, f"{URL}{run_id}/", plain).status_code == 200
    assert get(client, f"{URL}{run_id}/", stranger).status_code == 404
    assert get(client, f"{URL}{run_id}/", reader).status_code == 403
    other = get(client, f"/api/v1/integrations/humanitix/sync/{run_id}/", plain)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


def test_posts_racing_for_one_connection_share_one_run(fake, connection, queued):
    from django.test import Client

    _listing(fake, connection, sold=1)
    plain = api_key(connection.organiser, scopes=("sync",))
    barrier = threading.Barrier(6)
    answers: list = []

    def one_post():
        barrier.wait(5)
        response = post(Client(), URL, {}, plain)
        answers.append((response.status_code, response.json()["id"]))

    threads = [_in_thread(one_post) for _ in range(6)]
    for thread in threads:
        thread.join(20)

    run = SyncRun.objects.get(connection=connection)
    assert answers == [(202, run.pk)] * 6
    assert len(queued) == 1
