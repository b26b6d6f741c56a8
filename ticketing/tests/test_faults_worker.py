"""A real Celery worker SIGKILLed in the middle of a task, on a Redis of the test's
own: the task is delivered again and its effect happens once (one confirmation
email; for each task kind, one PDF stored, one refund paid at the Stripe fake, one
partner webhook posted to a loopback receiver). A pool process killed: the worker
rejects the task back to the queue at once (acks_late, reject_on_worker_lost). The
whole worker killed, as when a machine is lost: the broker gives the task back after
the visibility timeout.

Slow (two worker processes per test): run with FAULT_TESTS=1, as `make smoke` does.
"""

import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from bookings.models import Booking
from events.tests.factories import SessionFactory, TicketTypeFactory
from notifications.models import Notification
from payments.services.cancel_refunds import KIND as REFUND_KIND
from payments.tests.fakes.local_server import LocalServer
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401
from payments.tests.paid_bookings import stripe_paid_booking
from ticketing.models import OutboxMessage
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
    """A Celery worker that pauses `task` at `pause` for the test to kill it; `env`
    adds settings (the fakes' addresses...)."""

    def __init__(
        self,
        redis_url: str,
        tmp_path: Path,
        pause: str,
        *,
        task: str = TASK,
        env: dict[str, str] | None = None,
    ) -> None:
        self.markers = tmp_path / "markers"
        self.mail = tmp_path / "mail"
        self.media = tmp_path / "media"
        for directory in (self.markers, self.mail, self.media):
            directory.mkdir(exist_ok=True)
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
            "MEDIA_ROOT": str(self.media),
            "CACHE_KEY_PREFIX": django_settings.CACHES["default"]["KEY_PREFIX"],
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "FAULT_MARKERS": str(self.markers),
            "FAULT_PAUSE": pause,
            "FAULT_TASK": task,
            **(env or {}),
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
    _book(client, session, free)
    return Booking.objects.get()


def _book(client, session, free) -> None:
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


# -- each task kind: the PDF, the refund, the partner webhook ----------------------
#
# Killed before the task body (prerun) or after it, before the ack (postrun): the
# redelivered task finds the work claimed or done and does it at most once more,
# so that afterwards there is exactly one of each effect. (A kill inside the body,
# after the provider answered and before the commit, is the documented at-least-once
# of partner webhooks: the same delivery id again once its lease lapses.)


class _Receiver(BaseHTTPRequestHandler):
    """A partner's webhook endpoint on loopback: records each POST's delivery id."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append(self.headers["X-Ticketing-Delivery"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = LocalServer(_Receiver, "partner-receiver")
    url = server.start()
    yield url, _Receiver.received
    server.stop()


def _pdf_case(client, queue, request):
    from admission.models import BookingDocument
    from admission.tasks import booking_document_render_task

    booking = _free_booking(client)
    # Only the render task in the broker: the confirmation email would render the
    # PDF too, and this test is about the render task's own redelivery.
    queue.delete("celery")
    assert not BookingDocument.objects.exists()
    booking_document_render_task.delay(booking.pk)

    def done():
        return BookingDocument.objects.filter(booking=booking).exists()

    def check(worker):
        document = BookingDocument.objects.get(booking=booking)
        files = sorted(worker.media.rglob("*.pdf"))
        assert [path.relative_to(worker.media).as_posix() for path in files] == [
            document.pdf.name
        ]

    return "bookings.tickets.booking_document_render", {}, done, check


def _refund_case(client, queue, request):
    from bookings.services import booking_cancel
    from payments.models import Refund

    fake = request.getfixturevalue("stripe_fake")
    booking, payment = stripe_paid_booking(fake)
    booking_cancel(booking_id=booking.pk, reason="buyer asked")  # kicks the outbox
    env = {"STRIPE_SECRET_KEY": fake.secret_key, "STRIPE_API_BASE": fake.url}

    def done():
        return Refund.objects.filter(
            payment=payment, status=Refund.Status.SUCCEEDED
        ).exists()

    def check(worker):
        refund = Refund.objects.get(payment=payment)
        assert (refund.status, refund.amount_minor) == (Refund.Status.SUCCEEDED, 4500)
        assert fake.calls["refunds.create"] == 1
        intent = fake.payment_intent(payment.provider_reference)
        assert intent["amount_refunded"] == 4500
        row = OutboxMessage.objects.get(kind=REFUND_KIND)
        assert row.status == OutboxMessage.Status.DONE

    return TASK, env, done, check


def _webhook_case(client, queue, request):
    from partner_api.models import PartnerWebhookDelivery
    from partner_api.tests.factories import PartnerWebhookFactory

    url, received = request.getfixturevalue("receiver")
    session = SessionFactory(capacity=10)
    free = TicketTypeFactory(event=session.event, price_minor=0)
    webhook = PartnerWebhookFactory(
        organiser=session.event.organiser,
        url=f"{url}/hooks",
        events=["booking.confirmed"],
    )
    _book(client, session, free)  # confirmed at once: one delivery, kicked
    env = {"PARTNER_WEBHOOKS_ALLOW_LOOPBACK": "1"}
    succeeded = PartnerWebhookDelivery.Status.SUCCEEDED

    def done():
        return PartnerWebhookDelivery.objects.filter(status=succeeded).exists()

    def check(worker):
        delivery = PartnerWebhookDelivery.objects.get(webhook=webhook)
        assert (delivery.status, delivery.attempts) == (succeeded, 1)
        assert len(delivery.attempt_log) == 1
        assert received == [str(delivery.pk)]

    return TASK, env, done, check


CASES = {"pdf": _pdf_case, "refund": _refund_case, "webhook": _webhook_case}


@pytest.mark.parametrize("pause", ["prerun", "postrun"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_task_kind_killed_mid_task_has_its_effect_once(
    client, own_broker, tmp_path, request, kind, pause
):
    queue = redis.Redis.from_url(own_broker.url(0))
    task, env, done, check = CASES[kind](client, queue, request)
    assert queue.llen("celery") >= 1

    worker = Worker(own_broker.url(0), tmp_path, pause, task=task, env=env)
    worker.start()
    try:
        worker.wait_paused()
        # Before the task body (prerun) or after it, before the ack (postrun).
        assert done() == (pause == "postrun")
        worker.kill_child()
        worker.release()
        _wait_for(
            lambda: (
                "WorkerLostError" in worker.log.read_text()
                and queue.hlen("unacked") == 0
                and queue.llen("celery") == 0
                and done()
            ),
            90,
            worker.log,
        )
        time.sleep(1)  # a second, wrong effect would have landed by now
    finally:
        worker.stop()

    check(worker)
