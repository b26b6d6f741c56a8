"""Requests per second and latency of the buyer pages under gunicorn, against a bare
Django view.

    .venv/bin/python bench/pages.py [--duration 10] [--connections 20]

Prepares one published event (6 sessions x 4 ticket types, capacities too large to
sell out) in the bench database (BENCH_DATABASE_URL, default postgres://postgres@
127.0.0.1:5432/bench_holds, migrated on first use; Redis db 1), collects the static
files into a temporary STATIC_ROOT (DEBUG=0 serves them through WhiteNoise's manifest
storage), starts gunicorn from .venv (2 sync workers, no access log) and runs wrk
(2 threads, --connections connections, --duration seconds) against:

- `GET /e/<slug>/`: the event page (bench/http/page_get.lua);
- `POST /e/<slug>/checkout/`: a real hold per request, each with its own idempotency
  token and buyer email (bench/http/checkout_post.lua). A hold answers 302; anything
  else counts as an error. The bookings created are counted in the database after.

The checkout abuse limits are lifted for the run (CHECKOUT_HOLDS_PER_IP_PER_HOUR,
CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR, CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL,
CHECKOUT_SEATS_PER_IP_PER_HOUR, CHECKOUT_SEATS_PER_EMAIL_PER_HOUR = 100000000):
every request comes from one IP. The guard itself still runs.

Baseline in the same run: ../shared/bench/django_baseline/django_baseline.sh (a bare
Django view selling one seat with select_for_update, gunicorn 2 sync workers, wrk) at
the same connections and duration; the figures that matter are the ratios to its
`buy-hot` requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from holds import DATABASE_URL, _django_setup, _ensure_database  # noqa: E402
from report import print_tables  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HTTP = ROOT / "bench" / "http"
VENV_BIN = ROOT / ".venv" / "bin"
SHARED = ROOT.parent / "shared" / "bench"
BASELINE = SHARED / "django_baseline" / "django_baseline.sh"
SESSIONS = 6
TICKET_TYPES = 4
NO_LIMIT = "100000000"
# The environment as started, before Django's setup adds its own variables: the
# baseline's throwaway project must not see DJANGO_SETTINGS_MODULE or DATABASE_URL.
CLEAN_ENV = dict(os.environ)


def _fixtures() -> dict:
    """One published event, SESSIONS sessions, TICKET_TYPES ticket types."""
    import datetime as dt

    from django.utils import timezone

    from events.models import Event, Organiser, Session, TicketType, Venue

    stamp = f"{time.time_ns() % 10**12:012d}"
    prefix = "P" + "".join("ABCDEFGHJK"[int(d)] for d in stamp[-5:])
    organiser = Organiser.objects.create(
        name=f"Pages {stamp}",
        slug=f"pages-{stamp}",
        country="FR",
        currency="EUR",
        timezone="Europe/Paris",
        reference_prefix=prefix,
        contact_email="bench@example.org",
    )
    venues = [
        Venue.objects.create(
            organiser=organiser,
            name=f"Hall {city}",
            address="1 rue de la Paix",
            city=city,
            country="FR",
            timezone="Europe/Paris",
        )
        for city in ("Paris", "Lyon")
    ]
    event = Event.objects.create(
        organiser=organiser,
        title="Bench concert",
        slug=f"pages-{stamp}",
        description="A benchmark event.",
        currency="EUR",
        timezone="Europe/Paris",
        status=Event.Status.PUBLISHED,
    )
    first = timezone.now() + dt.timedelta(days=30)
    sessions = Session.objects.bulk_create(
        [
            Session(
                event=event,
                venue=venues[index % len(venues)],
                starts_at=first + dt.timedelta(days=index),
                ends_at=first + dt.timedelta(days=index, hours=2),
                capacity=10**9,
            )
            for index in range(SESSIONS)
        ]
    )
    ticket_types = [
        TicketType.objects.create(
            event=event, name=name, price_minor=price, position=position
        )
        for position, (name, price) in enumerate(
            [("Standard", 4500), ("Reduced", 3000), ("VIP", 12000), ("Child", 1500)]
        )
    ][:TICKET_TYPES]
    return {
        "event_id": event.pk,
        "slug": event.slug,
        "session_ids": [session.pk for session in sessions],
        "ticket_type_ids": [ticket_type.pk for ticket_type in ticket_types],
    }


def _server_env(static_root: str) -> dict:
    env = dict(CLEAN_ENV)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL="redis://127.0.0.1:6379/1",
        DEBUG="0",
        SECRET_KEY="bench",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="WARNING",
        CHECKOUT_HOLDS_PER_IP_PER_HOUR=NO_LIMIT,
        CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR=NO_LIMIT,
        CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL=NO_LIMIT,
        CHECKOUT_SEATS_PER_IP_PER_HOUR=NO_LIMIT,
        CHECKOUT_SEATS_PER_EMAIL_PER_HOUR=NO_LIMIT,
        STATIC_ROOT=static_root,
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _collectstatic(env: dict) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"collectstatic failed:\n{done.stderr[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(env: dict, port: int, log, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "ticketing.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its workers
    )


def _stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def _wait_until_up(server: subprocess.Popen, url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} in {timeout} s")


def _cpu_snapshot():
    """Busy and total jiffies of the machine, and CPU time per component (gunicorn,
    postgres, redis, loadgen, other) from ../shared/bench/http/cpu_by_proc.py."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = children.ru_utime + children.ru_stime  # wrk, once it has exited
    try:
        sys.path.insert(0, str(SHARED / "http"))
        import cpu_by_proc
    except ImportError:
        return sum(ticks) - idle, sum(ticks), waited, None
    return sum(ticks) - idle, sum(ticks), waited, cpu_by_proc.snapshot()


def _cpu_since(before) -> dict:
    busy, total, waited, components = _cpu_snapshot()
    result = {
        "cpu_busy_pct": round(100 * (busy - before[0]) / max(1, total - before[1]), 1)
    }
    if components is not None and before[3] is not None:
        import cpu_by_proc

        result["cpu_s"] = cpu_by_proc.diff(before[3], components)
        result["cpu_s"]["loadgen"] = round(waited - before[2], 2)
    return result


def _wrk(url: str, script: Path, duration: int, connections: int, env=None) -> dict:
    cpu_before = _cpu_snapshot()
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        env={**CLEAN_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"wrk failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = json.loads(line.removeprefix("WRKJSON "))
    result["status"] = {int(k): v for k, v in result["status"].items()}
    return result | _cpu_since(cpu_before)


def _checkout_credentials(url: str) -> tuple[str, str]:
    """The csrftoken cookie and the form's csrfmiddlewaretoken of a fresh GET."""
    import requests

    page = requests.get(url, timeout=10)
    page.raise_for_status()
    cookie = page.cookies.get("csrftoken")
    if cookie is None:  # the cookie is Secure (DEBUG=0); read the header itself
        found = re.search(r"csrftoken=([^;]+)", page.headers.get("Set-Cookie", ""))
        cookie = found.group(1) if found else None
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not cookie or not token:
        raise SystemExit("no CSRF cookie or csrfmiddlewaretoken on the checkout page")
    return cookie, token.group(1)


def _check_one_post(url: str, fixtures: dict, cookie: str, token: str) -> None:
    """One checkout POST by hand: the form must answer 302 before wrk repeats it."""
    import requests

    data = {
        "csrfmiddlewaretoken": token,
        "session": fixtures["session_ids"][0],
        f"qty_{fixtures['ticket_type_ids'][0]}": 1,
        "buyer_name": "Bench Buyer",
        "buyer_email": f"check-{time.time_ns()}@example.org",
        "attendee_name_0": "Bench Guest",
        "token": f"check-{time.time_ns()}",
        "action": "book",
    }
    answer = requests.post(
        url,
        data=data,
        headers={"Cookie": f"csrftoken={cookie}"},
        allow_redirects=False,
        timeout=30,
    )
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location.startswith("/b/"):
        errors = re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)<', answer.text)
        raise SystemExit(
            f"checkout POST answered {answer.status_code} {location!r}: {errors[:5]}"
        )


def _bookings(event_id: int) -> int:
    from bookings.models import Booking

    return Booking.objects.filter(event_id=event_id).count()


def _baseline(duration: int, connections: int) -> dict | None:
    if not BASELINE.exists():
        print(f"baseline skipped: {BASELINE} not found")
        return None
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        done = subprocess.run(
            ["bash", str(BASELINE)],
            env={
                **CLEAN_ENV,
                "CONNS": str(connections),
                "DURATION": str(duration),
                "REPEATS": "1",
                "OUT": out.name,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        rows = [json.loads(x) for x in Path(out.name).read_text().splitlines() if x]
    by_endpoint = {
        row["endpoint"]: row["wrk"]
        | {
            "status": {int(k): v for k, v in row["wrk"]["status"].items()},
            "cpu_busy_pct": row.get("cpu_busy_pct_during_load"),
            "cpu_s": row.get("cpu_s_by_component_during_load"),
        }
        for row in rows
    }
    if done.returncode or "buy-hot" not in by_endpoint:
        print("baseline failed:", (done.stderr or done.stdout)[-1000:])
        return None
    return by_endpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    _ensure_database()
    _django_setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    fixtures = _fixtures()
    connection.close()  # nothing of ours stays open while the server is measured

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    event_url = f"{base}/e/{fixtures['slug']}/"
    checkout_url = f"{event_url}checkout/"
    with (
        tempfile.TemporaryDirectory(prefix="bench-static-") as static_root,
        tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log") as log,
    ):
        env = _server_env(static_root)
        _collectstatic(env)
        server = _start_gunicorn(env, port, log)
        try:
            _wait_until_up(server, event_url)
            get_script = HTTP / "page_get.lua"
            _wrk(event_url, get_script, 2, args.connections)  # warm-up
            page = _wrk(event_url, get_script, args.duration, args.connections)

            cookie, token = _checkout_credentials(checkout_url)
            try:
                _check_one_post(checkout_url, fixtures, cookie, token)
            except SystemExit:
                log.seek(0)
                print(log.read().decode(errors="replace")[-3000:])
                raise
            before = _bookings(fixtures["event_id"])
            connection.close()
            post = _wrk(
                checkout_url,
                HTTP / "checkout_post.lua",
                args.duration,
                args.connections,
                env={
                    "CHECKOUT_PATH": f"/e/{fixtures['slug']}/checkout/",
                    "CSRF_COOKIE": cookie,
                    "CSRF_TOKEN": token,
                    "SESSION_IDS": ",".join(map(str, fixtures["session_ids"])),
                    "TICKET_TYPE_IDS": ",".join(map(str, fixtures["ticket_type_ids"])),
                    "RUN_ID": f"{fixtures['slug']}-{time.time_ns()}",
                },
            )
            time.sleep(3)  # requests still in gunicorn's backlog when wrk stopped
            created = _bookings(fixtures["event_id"]) - before
            connection.close()
        finally:
            _stop_gunicorn(server)
        log.seek(0)
        server_log = log.read().decode(errors="replace")
    tracebacks = server_log.count("Traceback")

    baseline = None
    if not args.skip_baseline:
        baseline = _baseline(args.duration, args.connections)

    holds = post["status"].get(302, 0)
    post_errors = sum(v for k, v in post["status"].items() if k != 302)
    page_errors = sum(v for k, v in page["status"].items() if k != 200)
    socket_errors = {
        name: sum(r[f"errors_{name}"] for r in (page, post))
        for name in ("connect", "read", "write", "timeout")
    }

    hot = baseline["buy-hot"]["rps"] if baseline and "buy-hot" in baseline else None
    print_tables(
        title=f"buyer pages, gunicorn 2 sync workers, wrk -t2 -c{args.connections} "
        f"-d{args.duration}s, PostgreSQL + Redis, DEBUG=0",
        measured=[
            ("GET /e/<slug>/", page, page_errors),
            ("POST /e/<slug>/checkout/", post, post_errors),
        ],
        baseline=baseline,
        cpu_columns=("gunicorn", "postgres", "loadgen"),
    )
    print()
    print(f"event page statuses: {page['status']}")
    print(
        f"checkout statuses: {post['status']} -> {holds} holds (302), "
        f"{post_errors} errors"
    )
    print(
        f"bookings created in the database during the checkout run: {created} "
        f"(302s counted by wrk: {holds}; difference {created - holds}, "
        "requests wrk cut short)"
    )
    print(f"socket errors (both runs): {socket_errors}")
    print(f"tracebacks in the gunicorn log: {tracebacks}")
    if hot:
        print(
            f"ratio event page / baseline buy-hot: {page['rps'] / hot:.2f}; "
            f"checkout POST / baseline buy-hot: {post['rps'] / hot:.2f}"
        )
    print(
        json.dumps(
            {
                "event_page": page,
                "checkout_post": post,
                "bookings_created": created,
                "baseline": baseline,
                "connections": args.connections,
                "duration_s": args.duration,
            },
            default=str,
        )
    )
    ok = (
        page_errors == 0
        and post_errors == 0
        and abs(created - holds) <= 2 * args.connections
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
