"""Chaos run: sell through pages and the API while workers die, Redis restarts and
Stripe webhooks arrive twice and out of order; then check nothing drifted.

    .venv/bin/python bench/chaos.py            # 3 minutes
    .venv/bin/python bench/chaos.py --short    # about 60 s (CI, `make smoke`)

Loopback only. The script starts its own redis-server (free port, nothing saved),
the Stripe fake (payments/tests/fakes/), gunicorn (2 workers x 4 threads) and a Celery
worker (2 processes) on a fresh database (CHAOS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/chaos, dropped and created), with holds of one
minute. For the duration of the run:

- page buyers GET the checkout page and POST a hold (CSRF and the form's token, as a
  browser does); API buyers POST bookings with an Idempotency-Key, replayed now and
  then; sessions are small, so they sell out (409 `sold_out` and the shop's sold out
  page are designed answers);
- most holds are paid: a PaymentIntent on the fake, then `payment_intent.succeeded`
  delivered two or three times in shuffled order to /webhooks/stripe/, some after a
  stale `payment_intent.payment_failed` of the same intent; the rest expire;
- some confirmed bookings are cancelled through the API, which refunds them (worker);
- beat's sweeps run every few seconds in this process (expiry, webhooks, notifications);
- a third of the way in the worker is SIGKILLed and started again; two thirds in,
  Redis is stopped for a few seconds and started again, empty.

Then, once the sweeps have caught up: `check_inventory` must report no drift, every
booking paid (succeeded payment) must be confirmed exactly once (one confirmation
audit row) or cancelled and refunded exactly once, and every confirmed booking must
have its tickets and exactly one confirmation email row. Answers other than the
designed ones (2xx, 3xx, 409, 429 and 503 with Retry-After) are failures. Exit 0 when
every check holds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get(
    "CHAOS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chaos"
)
NO_LIMIT = "100000000"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
# The shop's 400s that are designed answers (sold out is 409, busy 503).
DESIGNED = ("busy, please try again", "not on sale")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def ensure_database(*, fresh: bool = False) -> None:
    """Create the database on first use (or anew with `fresh`); later runs migrate
    it and empty it, much faster than migrating a new one."""
    import psycopg

    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate() -> None:
    """Migrate the kept database; when its history no longer matches the code's
    (migrations renumbered on a merge), start from a new one."""
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
    except Exception as error:  # noqa: BLE001 - whatever it was, start afresh
        log(f"migrating the kept database failed ({type(error).__name__}); anew")
        connections.close_all()
        ensure_database(fresh=True)
        call_command("migrate", verbosity=0)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = (self.logs / f"{name}.log").open("a")
        # A process group of its own: a kill takes the worker and its pool at once,
        # as losing the machine would.
        self.running[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.running[name]

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.running = {}


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter = Counter()
        self.failures: list[str] = []

    def record(self, what: str, response: requests.Response | None, error=None):
        with self.lock:
            if response is None:
                self.answers[f"{what} error"] += 1
                self.failures.append(f"{what}: {error}")
                return
            status = response.status_code
            self.answers[f"{what} {status}"] += 1
            designed = (
                status < 400
                or status in (409, 429)
                or (status == 503 and "Retry-After" in response.headers)
                # The shop answers a session no longer on sale with its form again.
                or (status == 400 and any(text in response.text for text in DESIGNED))
            )
            if not designed:
                self.failures.append(f"{what}: {status} {response.text[:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="about 60 s, for CI")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--buyers", type=int, default=6)
    args = parser.parse_args()
    duration = args.duration or (45.0 if args.short else 180.0)
    began = time.monotonic()

    work = Path(tempfile.mkdtemp(prefix="ticketing-chaos-"))
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    from payments.tests.fakes.stripe_server import StripeFake

    stripe = StripeFake().start()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "chaos-only-secret-key-0123456789-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"http://127.0.0.1:{web_port}",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "ticketing-chaos-static"),
        "MEDIA_ROOT": str(work / "media"),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(work / "mail"),
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_SECRET_KEY": stripe.secret_key,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_chaos",
        "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
        "BOOKING_HOLD_MINUTES": "1",
        "CELERY_VISIBILITY_TIMEOUT": "15",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "ticketing.settings",
        **{
            name: NO_LIMIT
            for name in (
                "CHECKOUT_HOLDS_PER_IP_PER_HOUR",
                "CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR",
                "CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL",
                "CHECKOUT_SEATS_PER_IP_PER_HOUR",
                "CHECKOUT_SEATS_PER_EMAIL_PER_HOUR",
                "HOLD_MAX_SESSION_SHARE_PERCENT",
            )
        },
        "API_RATE_PER_KEY": "100000/min",
    }
    redis = start_redis(redis_port)
    processes = Processes(env, work)
    try:
        log(f"database {DATABASE_URL}, redis :{redis_port}, work dir {work}")
        ensure_database()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        migrate()
        call_command("flush", "--noinput", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        shop = fixtures()

        processes.start(
            "web",
            [str(VENV_BIN / "gunicorn"), "ticketing.wsgi", "--bind"]
            + [f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"]
            + ["--timeout", "60"],
        )
        worker_argv = [str(VENV_BIN / "celery"), "-A", "ticketing", "worker"]
        worker_argv += ["--concurrency", "2", "--loglevel", "WARNING"]
        processes.start("worker", worker_argv)
        wait_port(web_port)
        base = f"http://127.0.0.1:{web_port}"
        log(f"selling for {duration:.0f} s at {base}")
        tally = Tally()
        stop = threading.Event()
        paid_queue: list[int] = []
        paid_lock = threading.Lock()

        def buyer(index: int, channel: str) -> None:
            rng = random.Random(index)
            http = requests.Session()
            n = 0
            while not stop.is_set():
                n += 1
                session_id = rng.choice(shop["sessions"])
                quantity = rng.randint(1, 3)
                email = f"buyer{index}-{n}@example.org"
                try:
                    if channel == "web":
                        reference = page_hold(
                            http, base, shop, session_id, quantity, email, tally
                        )
                    else:
                        reference = api_hold(
                            http,
                            base,
                            shop,
                            session_id,
                            quantity,
                            email,
                            tally,
                            replay=rng.random() < 0.2,
                        )
                except requests.RequestException as error:
                    tally.record(f"{channel} hold", None, error)
                    continue
                if reference and rng.random() < 0.75:
                    with paid_lock:
                        paid_queue.append(reference)

        def payer() -> None:
            rng = random.Random(99)
            http = requests.Session()
            pending_events: list[tuple[bytes, str]] = []
            while not stop.is_set() or paid_queue or pending_events:
                with paid_lock:
                    batch, paid_queue[:] = list(paid_queue), []
                for reference in batch:
                    pending_events += pay(stripe, reference, rng)
                rng.shuffle(pending_events)
                for body, signature in pending_events[:40]:
                    try:
                        response = http.post(
                            f"{base}/webhooks/stripe/",
                            data=body,
                            headers={
                                "Stripe-Signature": signature,
                                "Content-Type": "application/json",
                            },
                            timeout=30,
                        )
                        tally.record("webhook", response)
                    except requests.RequestException as error:
                        tally.record("webhook", None, error)
                del pending_events[:40]
                time.sleep(0.2)

        def canceller() -> None:
            rng = random.Random(7)
            http = requests.Session()
            while not stop.wait(3):
                for reference in confirmed_references(rng, 2):
                    try:
                        response = http.post(
                            f"{base}/api/v1/bookings/{reference}/cancel/",
                            json={"reason": "chaos"},
                            headers={"Authorization": f"Bearer {shop['key']}"},
                            timeout=30,
                        )
                        tally.record("cancel", response)
                    except requests.RequestException as error:
                        tally.record("cancel", None, error)

        def beat() -> None:
            while not stop.wait(4):
                sweeps()

        threads = [
            threading.Thread(target=buyer, args=(i, "web" if i % 2 else "api"))
            for i in range(args.buyers)
        ]
        threads += [threading.Thread(target=payer), threading.Thread(target=canceller)]
        beat_thread = threading.Thread(target=beat)
        for thread in [*threads, beat_thread]:
            thread.start()

        time.sleep(duration / 3)
        log("SIGKILL the worker, start another")
        processes.kill("worker")
        processes.start("worker", worker_argv)
        time.sleep(duration / 3)
        log("stop Redis for 3 s, start it again (empty)")
        redis.terminate()
        redis.wait(10)
        time.sleep(3)
        redis = start_redis(redis_port)
        time.sleep(duration / 3)
        stop.set()
        for thread in threads:
            thread.join(120)
        beat_thread.join(30)
        log("load stopped; letting the sweeps catch up")
        settle(stripe)
        ok = report(tally, stripe, work)
    finally:
        processes.stop_all()
        if redis.poll() is None:
            redis.terminate()
        stripe.stop()
    log(f"done in {time.monotonic() - began:.0f} s; logs in {work}")
    return 0 if ok else 1


def fixtures() -> dict:
    import datetime as dt

    from django.utils import timezone

    from events.models import Event, Organiser, Session, TicketType, Venue
    from partner_api.api_keys import ApiKey

    organiser = Organiser.objects.create(
        name="Chaos",
        slug="chaos",
        country="FR",
        currency="EUR",
        timezone="Europe/Paris",
        reference_prefix="CHAOS",
        contact_email="chaos@example.org",
    )
    venue = Venue.objects.create(
        organiser=organiser,
        name="Hall",
        address="1 rue",
        city="Paris",
        country="FR",
        timezone="Europe/Paris",
    )
    event = Event.objects.create(
        organiser=organiser,
        title="Chaos",
        slug="chaos",
        currency="EUR",
        status=Event.Status.PUBLISHED,
    )
    starts = timezone.now() + dt.timedelta(days=30)
    sessions = [
        Session.objects.create(
            event=event,
            venue=venue,
            starts_at=starts + dt.timedelta(days=n),
            ends_at=starts + dt.timedelta(days=n, hours=2),
            capacity=60,
        )
        for n in range(3)
    ]
    ticket_type = TicketType.objects.create(
        event=event, name="Seat", price_minor=2500, max_per_order=10
    )
    key, plain = ApiKey.generate(
        organiser=organiser, name="chaos", scopes=["read", "write"]
    )
    key.save()
    return {
        "slug": event.slug,
        "sessions": [session.pk for session in sessions],
        "ticket_type": ticket_type.pk,
        "key": plain,
    }


def page_hold(http, base, shop, session_id, quantity, email, tally) -> str | None:
    url = f"{base}/e/{shop['slug']}/checkout/"
    page = http.get(url, params={"session": session_id}, timeout=30)
    tally.record("page get", page)
    csrf, token = CSRF.search(page.text), TOKEN.search(page.text)
    if page.status_code != 200 or not csrf or not token:
        return None
    data = {
        "csrfmiddlewaretoken": csrf.group(1),
        "session": session_id,
        f"qty_{shop['ticket_type']}": quantity,
        "buyer_name": "Chaos Buyer",
        "buyer_email": email,
        "token": token.group(1),
        "action": "book",
        **{f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)},
    }
    response = http.post(
        url, data=data, allow_redirects=False, headers={"Referer": url}, timeout=30
    )
    tally.record("page hold", response)
    location = response.headers.get("Location", "")
    match = re.search(r"/b/([A-Z0-9-]+)/", location)
    return match.group(1) if response.status_code == 302 and match else None


def api_hold(http, base, shop, session_id, quantity, email, tally, *, replay):
    body = {
        "session": session_id,
        "lines": [{"ticket_type": shop["ticket_type"], "quantity": quantity}],
        "buyer": {"name": "Chaos Buyer", "email": email},
        "attendees": [{"name": f"Guest {i}"} for i in range(quantity)],
    }
    headers = {"Authorization": f"Bearer {shop['key']}", "Idempotency-Key": email}
    reference = None
    for _ in range(2 if replay else 1):
        response = http.post(
            f"{base}/api/v1/bookings/", json=body, headers=headers, timeout=30
        )
        tally.record("api hold", response)
        if response.status_code in (200, 201):
            answered = response.json()["reference"]
            if reference not in (None, answered):
                tally.failures.append(f"replay answered {answered} for {reference}")
            reference = answered
    return reference


def pay(stripe, reference: str, rng: random.Random) -> list[tuple[bytes, str]]:
    """Open the PaymentIntent, succeed it on the fake, and return its webhook
    deliveries: the success two or three times, sometimes after a stale failure."""
    from bookings.models import Booking
    from payments.services import payment_start

    booking = Booking.objects.get(reference=reference)
    try:
        payment = payment_start(
            booking_id=booking.pk, provider="stripe", return_url="http://127.0.0.1/"
        )
    except Exception:  # expired or cancelled meanwhile: nothing to pay
        return []
    intent = stripe.payment_intent(payment.provider_reference)
    events = []
    if rng.random() < 0.3:
        events.append(stripe.signed_event("payment_intent.payment_failed", intent))
    stripe.succeed(payment.provider_reference)
    succeeded = stripe.signed_event(
        "payment_intent.succeeded", stripe.payment_intent(payment.provider_reference)
    )
    return events + [succeeded] * rng.randint(2, 3)


def confirmed_references(rng: random.Random, count: int) -> list[str]:
    from bookings.models import Booking

    references = list(
        Booking.objects.filter(status=Booking.Status.CONFIRMED).values_list(
            "reference", flat=True
        )
    )
    return rng.sample(references, min(count, len(references)))


def sweeps() -> None:
    """What beat runs every minute, run here every few seconds."""


    from bookings.services.expiry import booking_expire_stale
    from payments.services.webhooks import webhooks_retry_due
    from ticketing.tasks import outbox_dispatch_task

    # Beat sends the outbox dispatch to the worker, as here.
    def outbox_dispatch() -> None:
        outbox_dispatch_task.delay()

    for sweep in (
        booking_expire_stale,
        webhooks_retry_due,
        outbox_dispatch,
    ):
        try:
            sweep()
        except Exception as error:  # Redis restarting: the next round catches up
            log(f"sweep {sweep.__name__} failed: {type(error).__name__}")


def settle(stripe, timeout: float = 120) -> None:
    """Sweep until no payment, webhook, notification or refund is left in flight."""
    import datetime as dt

    from django.utils import timezone

    from bookings.models import Booking
    from notifications.models import Notification
    from payments.models import Payment, Refund, WebhookDelivery
    from ticketing.models import OutboxMessage

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Time passes: outbox rows whose dispatcher went with the worker keep their
        # lease for 5 minutes, failed ones wait out their backoff; the run cannot
        # wait that long, so they are made due now.
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).update(
            next_attempt_at=timezone.now(),
            leased_until=timezone.now() - dt.timedelta(seconds=1),
        )
        # Sends left "sending" by a killed worker are retried once stale.
        Notification.objects.filter(status=Notification.Status.SENDING).update(
            updated_at=timezone.now() - dt.timedelta(hours=2)
        )
        in_flight = Notification.objects.filter(
            status__in=[
                Notification.Status.QUEUED,
                Notification.Status.SENDING,
                Notification.Status.FAILED,  # waiting out its backoff
            ]
        ).exclude(last_error__startswith="rejected: ")
        # The same for webhook deliveries whose worker died holding their lease.
        WebhookDelivery.objects.filter(
            status="processing", processed_at__isnull=True
        ).update(next_attempt_at=timezone.now())
        sweeps()
        parts = {
            "webhooks": WebhookDelivery.objects.filter(
                processed_at__isnull=True, signature_valid=True
            ).count(),
            "notifications": in_flight.count(),
            "outbox": OutboxMessage.objects.filter(
                status=OutboxMessage.Status.PENDING
            ).count(),
            "refunds pending": Refund.objects.filter(
                status=Refund.Status.PENDING
            ).count(),
            "refunds missing": Booking.objects.filter(
                status=Booking.Status.CANCELLED,
                payments__status=Payment.Status.SUCCEEDED,
                payments__refunds__isnull=True,
            ).count(),
        }
        unsettled = sum(parts.values())
        if not unsettled:
            return
        time.sleep(3)
    log(f"still unsettled after the wait: {parts}")


def report(tally: Tally, stripe, work: Path) -> bool:
    from django.db.models import Count, Sum

    from bookings.models import Booking
    from bookings.services.inventory import inventory_check
    from notifications.models import Notification
    from payments.models import Payment, Refund
    from ticketing.models import AuditEntry

    drifts = inventory_check()
    paid = Booking.objects.filter(payments__status=Payment.Status.SUCCEEDED).distinct()
    confirmations = dict(
        AuditEntry.objects.filter(action="bookings.booking.confirmed")
        .values_list("object_id")
        .annotate(n=Count("id"))
        .values_list("object_id", "n")
    )
    paid_ids = [str(pk) for pk in paid.values_list("pk", flat=True)]
    confirmed_once = sum(1 for pk in paid_ids if confirmations.get(pk) == 1)
    # Paid after its hold expired and its seats were sold: flagged and refunded.
    late = paid.filter(needs_attention=True).exclude(
        pk__in=[int(pk) for pk in paid_ids if confirmations.get(pk)]
    )
    confirmed = Booking.objects.filter(status=Booking.Status.CONFIRMED)
    tickets_ok = sum(
        1
        for booking in confirmed.annotate(n=Count("tickets"))
        if booking.n == booking.quantity
    )
    confirmation_rows = dict(
        Notification.objects.filter(
            template=Notification.Template.CONFIRMATION,
            channel="email",
            # Written by the file backend ("no provider" in its terms).
            status=Notification.Status.SKIPPED,
            last_error="no provider configured",
        )
        .values_list("booking_id")
        .annotate(n=Count("id"))
        .values_list("booking_id", "n")
    )
    one_email = sum(
        1
        for pk in confirmed.values_list("pk", flat=True)
        if confirmation_rows.get(pk) == 1
    )
    # Every email written once: one file per message, one message per send.
    emails_sent = Notification.objects.filter(
        channel="email", last_error="no provider configured"
    ).count()
    # Sent again: a worker killed after the backend took a message and before the
    # row was marked sent; found stale and retried. At least once, as with Brevo,
    # which takes no idempotency key (docs/operations.md).
    resent = Notification.objects.filter(
        channel="email", last_error="no provider configured", attempts__gt=1
    ).count()
    # Files, not messages: two sends in one second may share a file.
    email_files = sum(
        path.read_text().count("\nMessage-ID: ") for path in (work / "mail").glob("*")
    )
    refunded_paid = (
        paid.filter(status__in=[Booking.Status.CANCELLED, Booking.Status.REFUNDED])
        | late
    )
    refunds = Refund.objects.filter(payment__booking__in=refunded_paid)
    refunds_ok = sum(
        1
        for booking in refunded_paid.annotate(n=Count("payments__refunds"))
        if booking.n == 1
    )
    stripe_refunds = stripe.calls.get("refunds.create", 0)
    statuses = Counter(Booking.objects.values_list("status", flat=True))
    seats = (
        Booking.objects.filter(status=Booking.Status.CONFIRMED).aggregate(
            n=Sum("quantity")
        )["n"]
        or 0
    )

    print()
    print("answers:", dict(sorted(tally.answers.items())))
    print("bookings by status:", dict(statuses), f"seats sold {seats}")
    print(f"inventory drift: {len(drifts)} session(s)")
    print(
        f"paid bookings: {len(paid_ids)}, confirmed exactly once: {confirmed_once}, "
        f"paid too late (seats gone, flagged, refunded): {late.count()}"
    )
    print(
        f"confirmed bookings: {confirmed.count()}, with all their tickets: "
        f"{tickets_ok}, with exactly one confirmation email: {one_email}"
    )
    print(
        f"paid then cancelled: {refunded_paid.count()}, refunded exactly once: "
        f"{refunds_ok} (refund rows {refunds.count()}, Stripe refund calls "
        f"{stripe_refunds})"
    )
    print(
        f"emails sent {emails_sent}, emails written {email_files} (at most "
        f"{resent} written twice: retried after a worker died mid-send)"
    )
    print(f"unexpected answers: {len(tally.failures)}")
    for failure in tally.failures[:10]:
        print("  ", failure)
    ok = (
        not drifts
        and confirmed_once + late.count() == len(paid_ids)
        and tickets_ok == one_email == confirmed.count()
        and refunds_ok == refunded_paid.count()
        and emails_sent <= email_files <= emails_sent + resent
        and not tally.failures
        and len(paid_ids) > 0
    )
    print("OK: zero drift, exactly once" if ok else "FAILED")
    return ok


if __name__ == "__main__":
    sys.exit(main())
