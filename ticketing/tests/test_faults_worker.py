"""A real Celery worker SIGKILLed in the middle of a task, on a Redis of the test's
own: the task is delivered again and its effect happens once (one confirmation
email). A pool process killed: the worker rejects the task back to the queue at once
(acks_late, reject_on_worker_lost). The whole worker killed, as when a machine is
lost: the broker gives the task back after the visibility timeout.

Slow (two worker processes per test): run with FAULT_TESTS=1, as `make smoke` does.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from bookings.models import Booking
from events.tests.factories import SessionFactory, TicketTypeFactory
from notifications.models import Notification
from ticketing.tests.redis_server import redis_server_fixture  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("FAULT_TESTS"),
        reason="starts worker processes: FAULT_TESTS=1 (make smoke) runs it",
    ),
]
BASE_DIR = Path(django_settings.BASE_DIR)
# The outbox's dispatch sends the confirmation email (ticketing/outbox.py).
TASK = "ticketing.tasks.outbox_dispatch"
VISIBILITY_TIMEOUT = 2
# Django's file backend writes the email (one file per message) and is recorded as
# "no provider": the status a finished send has here.
DONE = Notification.Status.SKIPPED


class Worker:
    def __init__(self, redis_url: str, tmp_path: Path, pause: str) -> None:
        self.markers = tmp_path / "markers"
        self.mail = tmp_path / "mail"
        self.markers.mkdir()
        self.mail.mkdir()
        params = connection.settings_dict
        database_url = (
            f"postgres://{params['USER']}:{params['PASSWORD'] or ''}@"
            f"{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
        )
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": django_settings.SECRET_KEY,
            "ALLOWED_HOSTS": "testserver",
            "SITE_URL": "http://testserver",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail),
            "CACHE_KEY_PREFIX": django_settings.CACHES["default"]["KEY_PREFIX"],
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "FAULT_MARKERS": str(self.markers),
            "FAULT_PAUSE": pause,
            "FAULT_TASK": TASK,
        }
        self.process: subprocess.Popen | None = None
        self.log = tmp_path / "worker.log"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ticketing", "worker"]
            + ["--pool", "prefork", "--concurrency", "1"]
            + ["--without-heartbeat", "--without-gossip"]
            + ["--without-mingle", "-I", "ticketing.tests.fault_worker"]
            + ["--loglevel", "INFO"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for `kill`
        )

    def wait_paused(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if list(self.markers.glob("paused-*")):
                return
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.05)
        raise AssertionError("the task never started:\n" + self.log.read_text())

    def kill_child(self) -> int:
        """SIGKILL the pool process running the task (as the OOM killer would)."""
        (marker,) = self.markers.glob("paused-*")
        pid = int(marker.name.removeprefix("paused-"))
        os.kill(pid, signal.SIGKILL)
        marker.unlink()
        return pid

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def release(self) -> None:
        (self.markers / "go").write_text("")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def emails(self) -> list[Path]:
        return sorted(self.mail.glob("*.log"))


@pytest.fixture
def own_broker(settings, redis_server):
    from ticketing.celery import app

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": redis_server.url(0)}
    }
    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_server.url(0)
    app._pool = None
    app.amqp._producer_pool = None
    yield redis_server
    app.conf.task_always_eager, app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


def _free_booking(client) -> Booking:
    session = SessionFactory(capacity=10)
    free = TicketTypeFactory(event=session.event, price_minor=0)
    response = client.post(
        f"/e/{session.event.slug}/checkout/",
        {
            "session": session.pk,
            f"qty_{free.pk}": 1,
            "buyer_name": "Ada Lovelace",
            "buyer_email": "ada@example.org",
            "token": "tok-1",
            "action": "book",
            "attendee_name_0": "Guest 0",
        },
    )
    assert response.status_code == 302
    return Booking.objects.get()


def _wait_for(predicate, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out:\n" + log.read_text()[-4000:])


@pytest.mark.parametrize("pause", ["prerun", "postrun"])
def test_worker_process_killed_mid_task_redelivers_and_sends_once(
    client, own_broker, tmp_path, pause
):
    booking = _free_booking(client)
    notification = Notification.objects.get(booking=booking, template="confirmation")
    queue = redis.Redis.from_url(own_broker.url(0))
    assert queue.llen("celery") >= 1

    worker = Worker(own_broker.url(0), tmp_path, pause)
    worker.start()
    try:
        worker.wait_paused()
        sent_before_kill = len(worker.emails())
        # Before the send (prerun), or after it and before the ack (postrun).
        worker.kill_child()
        worker.release()
        _wait_for(
            lambda: (
                "WorkerLostError" in worker.log.read_text()
                and queue.hlen("unacked") == 0
                and queue.llen("celery") == 0
                and Notification.objects.get(pk=notification.pk).status == DONE
            ),
            60,
            worker.log,
        )
        time.sleep(1)  # a second, wrong send would have landed by now
    finally:
        worker.stop()

    assert sent_before_kill == (1 if pause == "postrun" else 0)
    notification.refresh_from_db()
    assert notification.status == DONE
    assert notification.attempts == 1
    notification.refresh_from_db()
    assert notification.attempts == 1
    assert len(worker.emails()) == 1


def test_worker_machine_lost_mid_task_its_task_returns_after_the_visibility_timeout(
    client, own_broker, tmp_path
):
    booking = _free_booking(client)
    notification = Notification.objects.get(booking=booking, template="confirmation")
    queue = redis.Redis.from_url(own_broker.url(0))

    worker = Worker(own_broker.url(0), tmp_path, "prerun")
    worker.start()
    try:
        worker.wait_paused()
        worker.kill()  # the whole worker, pool and all: a machine lost
        assert queue.hlen("unacked") == 1
        assert len(worker.emails()) == 0
        worker.release()
        # The replacement comes up after the visibility timeout. (Kombu scans for
        # timed-out tasks on a worker's first restore cycle, then every 100 s:
        # a scan before the timeout has passed would leave the task for the next.)
        time.sleep(VISIBILITY_TIMEOUT + 1)
        worker.start()
        _wait_for(
            lambda: Notification.objects.get(pk=notification.pk).status == DONE,
            90,
            worker.log,
        )
    finally:
        worker.stop()
    notification.refresh_from_db()
    assert notification.attempts == 1
    assert len(worker.emails()) == 1
