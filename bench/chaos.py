"""Chaos run: sell through pages and the API while workers die, Redis restarts,
Stripe webhooks arrive twice and out of order and a platform answers with faults;
then check nothing drifted.

    .venv/bin/python bench/chaos.py            # 3 minutes of load, about 5 in all
    .venv/bin/python bench/chaos.py --short    # 45 s of load, about 2.5 min in all

Loopback only. The script starts its own redis-server (free port, nothing saved),
the Stripe fake (payments/tests/fakes/), the Billetweb fake (integrations/tests/
fakes/, with fault injection), gunicorn (2 workers x 4 threads) and a Celery worker
(2 processes) on a database of its own (CHAOS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/chaos: created once, then migrated and emptied),
with holds of one minute. For the duration of the run:

- page buyers GET the checkout page and POST a hold (CSRF and the form's token, as a
  browser does); API buyers POST bookings with an Idempotency-Key, replayed now and
  then; sessions are small, so they sell out (409 `sold_out` and the shop's sold out
  page are designed answers);
- most holds are paid: a PaymentIntent on the fake, then `payment_intent.succeeded`
  delivered two or three times in shuffled order to /webhooks/stripe/, some after a
  stale `payment_intent.payment_failed` of the same intent; the rest expire;
- some confirmed bookings are cancelled through the API, which refunds them (worker);
- beat's sweeps run every few seconds in this process (hold expiry, stored Stripe
  webhooks, the outbox dispatch sent to the worker);
- every 3 s the platform sells a seat or two, one or two faults (5xx, 429, timeout,
  malformed, HTML, reset) are injected into its next answers, and the Billetweb
  connection is synced (in this process, as beat's scheduled sync);
- a third of the way in the worker is SIGKILLed and started again; two thirds in,
  Redis is stopped for a few seconds and started again, empty. A worker that exits
  by itself meanwhile (Celery can, when its broker goes away) is started again as
  the deployment's supervisor would, and the restarts are printed.

Then the work the kill or the Redis stop orphaned (outbox leases, sends under way,
taken at that moment and still held as they were) is released once, and the sweeps
catch up. Checks: `check_inventory` reports no drift; every booking paid (succeeded
payment) is confirmed exactly once (one confirmation audit row) or cancelled and
refunded exactly once (one succeeded refund; as many refunds made at the Stripe fake
as refund rows); every confirmed booking has its tickets, one confirmation row and
exactly one confirmation email written, except that a send the kill interrupted
after the email was written may have written it twice (counted and named); after a
last sync with the faults cleared, every seat sold on the platform is recorded on
its listing and counted on its session. Answers other than the designed ones (2xx,
3xx, 409, 429 and 503 with Retry-After) are failures. Exit 0 when every check holds.
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
sys.path.insert(0, str(ROOT / "bench"))
import harness  # noqa: E402 - bench/harness.py, next to this script

VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get(
    "CHAOS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chaos"
)
NO_LIMIT = "100000000"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
CONFIRMATION_SUBJECT = re.compile(
    r"^Subject: Your tickets for .* \(booking ([A-Z0-9-]+)\)$", re.MULTILINE
)
# Faults the platform fake injects before each sync.
SYNC_FAULTS = ("500", "502", "503", "429", "timeout", "malformed", "html", "reset")
# The platform sells this many seats of each session at most (its quota there).
PLATFORM_CAP = 12
# The shop's 400s that are designed answers (sold out is 409, busy 503).
DESIGNED = ("busy, please try again", "not on sale")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


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
        harness.ensure_database(DATABASE_URL, fresh=True)
        call_command("migrate", verbosity=0)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, {}
        self.argv: dict[str, list[str]] = {}
        self.restarts: Counter = Counter()
        self._lock = threading.RLock()

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = (self.logs / f"{name}.log").open("a")
        with self._lock:
            # A process group of its own: a kill takes the worker and its pool at
            # once, as losing the machine would.
            self.running[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.argv[name] = argv
            return self.running[name]

    def kill(self, name: str) -> None:
        """SIGKILL `name`; unsupervised until started again."""
        with self._lock:
            process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def supervise(self, names: tuple[str, ...], stop: threading.Event) -> None:
        """Start again what exited by itself, as the deployment's supervisor does
        (compose `restart: unless-stopped`). A Celery worker can exit when Redis goes
        away mid-reconnect ("Unrecoverable error" in kombu's Redis transport)."""
        while not stop.wait(1.0):
            with self._lock:
                for name in names:
                    process = self.running.get(name)
                    if process is not None and process.poll() is not None:
                        log(f"{name} exited ({process.returncode}); started again")
                        self.restarts[name] += 1
                        self.start(name, self.argv[name])

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
    parser.add_argument(
        "--short",
        action="store_true",
        help="45 s of load, about 2.5 min in all, for CI",
    )
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--buyers", type=int, default=6)
    args = parser.parse_args()
    duration = args.duration or (45.0 if args.short else 180.0)
    began = time.monotonic()

    work = Path(tempfile.mkdtemp(prefix="ticketing-chaos-"))
    redis_port, web_port = harness.free_port(), harness.free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    from integrations.tests.fakes.billetweb_server import BilletwebFake
    from payments.tests.fakes.stripe_server import StripeFake

    stripe = StripeFake().start()
    billetweb = BilletwebFake().start()
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
        "BILLETWEB_API_BASE": billetweb.url + "/api",
        "BILLETWEB_RATE_LIMIT": "0",  # the fake has no quota
    }
    redis = start_redis(redis_port)
    processes = Processes(env, work)
    supervising = threading.Event()
    try:
        log(f"database {DATABASE_URL}, redis :{redis_port}, work dir {work}")
        harness.ensure_database(DATABASE_URL)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        migrate()
        call_command("flush", "--noinput", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        shop = fixtures()
        platform = platform_fixtures(billetweb, shop)

        processes.start(
            "web",
            [str(VENV_BIN / "gunicorn"), "ticketing.wsgi", "--bind"]
            + [f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"]
            + ["--timeout", "60"],
        )
        worker_argv = [str(VENV_BIN / "celery"), "-A", "ticketing", "worker"]
        worker_argv += ["--concurrency", "2", "--loglevel", "WARNING"]
        processes.start("worker", worker_argv)
        threading.Thread(
            target=processes.supervise, args=(("worker",), supervising), daemon=True
        ).start()
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

        def syncer() -> None:
            rng = random.Random(11)
            while not stop.wait(3):
                platform_sells(billetweb, platform, rng)
                # One or two faults the next calls meet: the sync retries, records
                # a failed listing, or opens the breaker; none may drift the figures.
                billetweb.fail_next(*rng.sample(SYNC_FAULTS, rng.randint(1, 2)))
                platform_sync(platform, tally)

        threads = [
            threading.Thread(target=buyer, args=(i, "web" if i % 2 else "api"))
            for i in range(args.buyers)
        ]
        threads += [threading.Thread(target=payer), threading.Thread(target=canceller)]
        threads += [threading.Thread(target=syncer)]
        beat_thread = threading.Thread(target=beat)
        for thread in [*threads, beat_thread]:
            thread.start()

        time.sleep(duration / 3)
        log("SIGKILL the worker, start another")
        processes.kill("worker")
        # Nothing else dispatches or sends: what the worker held is orphaned.
        orphans = Orphans.taken()
        processes.start("worker", worker_argv)
        time.sleep(duration / 3)
        log("stop Redis for 3 s, start it again (empty)")
        redis.terminate()
        redis.wait(10)
        # Held by the running worker now: orphaned only if it lost them (settle).
        orphans.add(Orphans.taken())
        time.sleep(3)
        redis = start_redis(redis_port)
        time.sleep(duration / 3)
        stop.set()
        for thread in threads:
            thread.join(120)
        beat_thread.join(30)
        log("load stopped; letting the sweeps catch up")
        # The work left to catch up grows with the load: as long again, plus a minute.
        interrupted = settle(orphans, timeout=max(120.0, 60 + duration))
        if processes.restarts:
            log(f"started again after exiting by itself: {dict(processes.restarts)}")
        ok = report(tally, stripe, work, interrupted)
        ok = platform_report(billetweb, platform) and ok
        print("OK: zero drift, exactly once" if ok else "FAILED")
    finally:
        supervising.set()
        processes.stop_all()
        if redis.poll() is None:
            redis.terminate()
        stripe.stop()
        billetweb.stop()
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


def platform_fixtures(billetweb, shop) -> dict:
    """A Billetweb connection (the fake) with one listing per session, each date
    with two seats sold there already."""
    from events.models import Event
    from integrations.models import Connection, Listing

    organiser = Event.objects.get(slug=shop["slug"]).organiser
    connection = Connection(
        organiser=organiser, platform="billetweb", account_id=billetweb.user
    )
    connection.set_credentials(billetweb.key)
    connection.save()
    dates = {}
    for session_id in shop["sessions"]:
        event_id = billetweb.add_event()
        date_id = billetweb.add_date(event_id, quota=PLATFORM_CAP)
        billetweb.sell(event_id, date_id, 2)
        Listing.objects.create(
            connection=connection,
            session_id=session_id,
            external_event_id=event_id,
            external_date_id=date_id,
        )
        dates[session_id] = (event_id, date_id)
    return {"connection": connection.pk, "dates": dates}


def platform_sold(billetweb, platform) -> dict[int, int]:
    return {
        session_id: int(billetweb.dates[event_id][date_id]["total_sales"])
        for session_id, (event_id, date_id) in platform["dates"].items()
    }


def platform_sells(billetweb, platform, rng: random.Random) -> None:
    """A sale or two on the platform, up to its quota per session."""
    session_id = rng.choice(sorted(platform["dates"]))
    if platform_sold(billetweb, platform)[session_id] < PLATFORM_CAP:
        event_id, date_id = platform["dates"][session_id]
        billetweb.sell(event_id, date_id, 1)


def platform_sync(platform, tally: Tally) -> None:
    """What beat's scheduled sync runs, in this process."""
    from integrations.services.sync import connection_sync

    try:
        run = connection_sync(
            connection_id=platform["connection"], trigger="manual", force=True
        )
        outcome = f"sync {run.status}"
    except Exception as error:  # noqa: BLE001 - Redis restarting: the next one
        outcome = f"sync raised {type(error).__name__}"
    with tally.lock:
        tally.answers[outcome] += 1


def platform_report(billetweb, platform) -> bool:
    """One last sync with the faults cleared: every seat sold on the platform is
    recorded on its listing and counted against its session, no more, no less."""
    from events.models import Session
    from integrations.models import Listing
    from integrations.services.sync import connection_sync
    from ticketing.lib.http import breaker_for

    billetweb.clear_faults()
    breaker_for("billetweb").reset()
    run = connection_sync(
        connection_id=platform["connection"], trigger="manual", force=True
    )
    sold = platform_sold(billetweb, platform)
    listed = dict(
        Listing.objects.filter(connection_id=platform["connection"]).values_list(
            "session_id", "places_sold"
        )
    )
    counted = dict(
        Session.objects.filter(pk__in=sold).values_list("pk", "external_sold_count")
    )
    faults = sum(1 for request in billetweb.requests if request.status != 200)
    print(
        f"platform sales (Billetweb fake): {sum(sold.values())} sold there, "
        f"{sum(listed.values())} recorded on the listings, {sum(counted.values())} "
        f"counted on the sessions; {len(billetweb.requests)} calls, {faults} met a "
        f"fault; last sync {run.status}"
    )
    ok = sold == listed == counted
    if not ok:
        print(f"  platform drift: sold {sold}, listed {listed}, counted {counted}")
    return ok


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


class Orphans:
    """Work a dispatcher held when the worker was SIGKILLed or Redis stopped: outbox
    rows leased (with their lease), notifications being sent (with their attempt
    count), Stripe webhooks being processed (with their lease). Taken right then;
    what is still held exactly so when the load stops was lost with its holder."""

    def __init__(self, leases=(), sending=(), processing=()) -> None:
        self.leases, self.sending = set(leases), set(sending)
        self.processing = set(processing)

    @classmethod
    def taken(cls) -> Orphans:
        from django.utils import timezone

        from notifications.models import Notification
        from payments.models import WebhookDelivery
        from ticketing.models import OutboxMessage

        now = timezone.now()
        return cls(
            OutboxMessage.objects.filter(
                status=OutboxMessage.Status.PENDING, leased_until__gt=now
            ).values_list("pk", "leased_until"),
            Notification.objects.filter(status=Notification.Status.SENDING).values_list(
                "pk", "attempts"
            ),
            WebhookDelivery.objects.filter(
                status="processing", processed_at__isnull=True
            ).values_list("pk", "next_attempt_at"),
        )

    def add(self, other: Orphans) -> None:
        self.leases |= other.leases
        self.sending |= other.sending
        self.processing |= other.processing

    def release(self) -> set[int]:
        """Once: lapse the leases still held as taken, mark the sends still under
        way as stale (the notifications' own 10-minute rule, which the run cannot
        wait for). Returns the notifications whose send was interrupted: sent
        again now, so their email may have been written twice (at least once, as
        with Brevo, which takes no idempotency key)."""
        import datetime as dt

        from django.utils import timezone

        from notifications.models import Notification
        from payments.models import WebhookDelivery
        from ticketing.models import OutboxMessage

        now = timezone.now()
        lapsed = 0
        for pk, leased_until in self.leases:
            lapsed += OutboxMessage.objects.filter(
                pk=pk, status=OutboxMessage.Status.PENDING, leased_until=leased_until
            ).update(leased_until=now - dt.timedelta(seconds=1), next_attempt_at=now)
        interrupted = set()
        for pk, attempts in self.sending:
            if Notification.objects.filter(
                pk=pk, status=Notification.Status.SENDING, attempts=attempts
            ).update(updated_at=now - dt.timedelta(hours=2)):
                interrupted.add(pk)
        stale = 0
        for pk, lease in self.processing:
            stale += WebhookDelivery.objects.filter(
                pk=pk, status="processing", next_attempt_at=lease
            ).update(next_attempt_at=now)
        log(
            f"orphaned by the kill or the Redis stop: {lapsed} outbox lease(s), "
            f"{len(interrupted)} send(s), {stale} webhook(s); released once"
        )
        return interrupted


def settle(orphans: Orphans, timeout: float) -> set[int]:
    """Release what the kill or the Redis stop orphaned (once), then sweep until no
    payment, webhook, outbox row or refund is left in flight. Returns the
    notifications whose send was interrupted."""
    from django.db.models import Q
    from django.utils import timezone

    from bookings.models import Booking
    from payments.models import Payment, Refund, WebhookDelivery
    from ticketing.models import OutboxMessage

    interrupted = orphans.release()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Failures wait out a backoff of up to minutes; the run makes them due now.
        # Only rows nobody holds: a row under lease is being worked on.
        now = timezone.now()
        OutboxMessage.objects.filter(
            Q(leased_until__isnull=True) | Q(leased_until__lt=now),
            status=OutboxMessage.Status.PENDING,
            next_attempt_at__gt=now,
        ).update(next_attempt_at=now)
        WebhookDelivery.objects.filter(
            status__in=["received", "failed"],
            processed_at__isnull=True,
            next_attempt_at__gt=now,
        ).update(next_attempt_at=now)
        sweeps()
        parts = {
            "webhooks": WebhookDelivery.objects.filter(
                processed_at__isnull=True, signature_valid=True
            ).count(),
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
        if not sum(parts.values()):
            return interrupted
        time.sleep(3)
    log(f"still unsettled after {timeout:.0f} s: {parts}")
    return interrupted


def confirmation_emails(work: Path) -> Counter:
    """Confirmation emails written by the file backend, by booking reference."""
    found: Counter = Counter()
    for path in (work / "mail").glob("*"):
        for match in CONFIRMATION_SUBJECT.finditer(path.read_text(errors="replace")):
            found[match.group(1)] += 1
    return found


def report(tally: Tally, stripe, work: Path, interrupted: set[int]) -> bool:
    from django.db.models import Count, Q, Sum

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
    one_row = sum(
        1
        for pk in confirmed.values_list("pk", flat=True)
        if confirmation_rows.get(pk) == 1
    )
    # Emails written, counted per booking from the files: exactly one each, except
    # where the kill interrupted a send after the backend took the message and
    # before its row was marked: that send ran again (at least once).
    emails = confirmation_emails(work)
    resent_refs = set(
        Notification.objects.filter(pk__in=interrupted).values_list(
            "booking__reference", flat=True
        )
    )
    refs = list(confirmed.values_list("reference", flat=True))
    one_email = sum(1 for ref in refs if emails[ref] == 1)
    twice = sorted(ref for ref, n in emails.items() if n == 2 and ref in resent_refs)
    emails_ok = all(
        n == 1 or (n == 2 and ref in resent_refs) for ref, n in emails.items()
    ) and all(emails[ref] for ref in refs)
    refunded_paid = (
        paid.filter(status__in=[Booking.Status.CANCELLED, Booking.Status.REFUNDED])
        | late
    )
    refunds = Refund.objects.filter(payment__booking__in=refunded_paid)
    refunds_ok = sum(
        1
        for booking in refunded_paid.annotate(
            n=Count("payments__refunds"),
            paid_back=Count(
                "payments__refunds",
                filter=Q(payments__refunds__status=Refund.Status.SUCCEEDED),
            ),
        )
        if booking.n == booking.paid_back == 1
    )
    # Refunds Stripe made; calls can be more (an idempotent retry is answered with
    # the refund already made).
    stripe_refunds = len(stripe.refunds)
    stripe_refund_calls = stripe.calls.get("refunds.create", 0)
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
        f"{tickets_ok}, with one confirmation row: {one_row}, with exactly one "
        f"confirmation email: {one_email}"
    )
    print(
        f"sends interrupted by the kill or the Redis stop: {len(interrupted)}; "
        f"their confirmation written twice: {len(twice)} {twice}"
    )
    print(
        f"paid then cancelled: {refunded_paid.count()}, refunded exactly once "
        f"(succeeded): {refunds_ok} (refund rows {refunds.count()}, refunds made "
        f"at Stripe {stripe_refunds}, refund calls {stripe_refund_calls})"
    )
    print(f"unexpected answers: {len(tally.failures)}")
    for failure in tally.failures[:10]:
        print("  ", failure)
    return (
        not drifts
        and confirmed_once + late.count() == len(paid_ids)
        and tickets_ok == one_row == confirmed.count()
        and one_email + len([ref for ref in twice if ref in refs]) == len(refs)
        and emails_ok
        and refunds_ok == refunded_paid.count()
        and stripe_refunds == refunds.count()
        and not tally.failures
        and len(paid_ids) > 0
    )


if __name__ == "__main__":
    sys.exit(main())
