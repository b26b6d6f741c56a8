"""Requests per second and latency of the buyer pages under gunicorn, against a bare
Django view.

    .venv/bin/python bench/pages.py [--duration 10] [--connections 20]

Prepares one published event (6 sessions x 4 ticket types, capacities too large to
sell out) in the bench database (BENCH_DATABASE_URL, default postgres://postgres@
127.0.0.1:5432/bench_holds, migrated on first use; Redis db 1), collects the static
files into a STATIC_ROOT kept between runs (DEBUG=0 serves them through WhiteNoise's
manifest storage), starts gunicorn from .venv (2 sync workers, no access log, load
shedding off) and runs wrk (2 threads, --connections connections, --duration
seconds), all through bench/harness.py, against:

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
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HTTP, django_baseline, wrk  # noqa: E402
from holds import DATABASE_URL  # noqa: E402
from report import print_tables  # noqa: E402

SESSIONS = 6
TICKET_TYPES = 4
NO_LIMIT = "100000000"
LIFTED_LIMITS = {
    name: NO_LIMIT
    for name in (
        "CHECKOUT_HOLDS_PER_IP_PER_HOUR",
        "CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR",
        "CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL",
        "CHECKOUT_SEATS_PER_IP_PER_HOUR",
        "CHECKOUT_SEATS_PER_EMAIL_PER_HOUR",
    )
}


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


def server_env(**overrides: str) -> dict:
    """gunicorn's environment for pages.py and api.py: the bench database, the
    checkout limits lifted (every request comes from 127.0.0.1), shedding off (these
    runs measure throughput at 20-32 connections, not a crowd)."""
    return harness.server_env(
        DATABASE_URL,
        harness.static_root(),
        SALE_MAX_IN_FLIGHT_PER_SESSION="0",
        **LIFTED_LIMITS,
        **overrides,
    )


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    harness.migrated_database(DATABASE_URL)
    from django.db import connection

    fixtures = _fixtures()
    connection.close()  # nothing of ours stays open while the server is measured

    env = server_env()
    harness.collectstatic(env)
    with harness.gunicorn(env, f"/e/{fixtures['slug']}/") as served:
        event_url = f"{served.base}/e/{fixtures['slug']}/"
        checkout_url = f"{event_url}checkout/"
        get_script = HTTP / "page_get.lua"
        wrk(event_url, get_script, 2, args.connections)  # warm-up
        page = wrk(event_url, get_script, args.duration, args.connections)

        cookie, token = _checkout_credentials(checkout_url)
        _check_one_post(checkout_url, fixtures, cookie, token)
        before = _bookings(fixtures["event_id"])
        connection.close()
        post = wrk(
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
    tracebacks = served.log_text().count("Traceback")

    baseline = None
    if not args.skip_baseline:
        baseline = django_baseline(args.duration, args.connections)

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
    harness.record(
        "pages",
        {
            "goals": [
                harness.goal(
                    "event page GET / bare Django buy-hot",
                    page["rps"],
                    hot,
                    None,
                    unit="req/s",
                ),
                harness.goal(
                    "checkout POST (holds) / bare Django buy-hot",
                    post["rps"],
                    hot,
                    None,
                    unit="req/s",
                ),
            ],
            "errors": {"page": page_errors, "checkout": post_errors},
        },
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
