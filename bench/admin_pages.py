"""Latency of the back office and the event page as data grows: the dashboard,
the bookings, payments and sessions changelists at 100,000 bookings, and an event
page of 500 dates, against a bare Django view.

    .venv/bin/python bench/admin_pages.py [--bookings 100000] [--requests 60]
                                          [--skip-baseline]

Seeds, once per --bookings size, into the bench database (BENCH_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/bench_admin, migrated on first use) one
organiser with 20 events of 3 sessions and a 500-date event, --bookings bookings
over the last 30 days on every channel (web, API, back office, comps; some held,
some cancelled) with their lines and attendees, and sales on Billetweb, Humanitix
and Eventbrite. A manager of the organiser is logged in and each page is requested
`--requests` times, one after the other (an organiser's clicks, not a load test),
after a warm-up, in this process through the whole middleware stack (Django's test
client: the server's time, without HTTP). p50 and p95 are printed with each page's
query count; the target (issue 24) is p95 under 100 ms at 100,000 bookings.

Baselines in the same run: a bare view (one `SELECT 1`) served the same way, and
../shared/bench/django_baseline/django_baseline.sh (the bare Django view under
gunicorn and wrk) at 2 connections for 5 s, its `ping` latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

DATABASE_URL = harness.database_url("bench_admin")
EVENTS, SESSIONS_PER_EVENT = 20, 3
# The event page's long run: one event with this many dates (issue 24, growth).
LONG_RUN_DATES = 500
TARGET_MS = 100  # issue 24: server time of each page at 100,000 bookings


def _slug(bookings: int) -> str:
    """One seeded organiser per size: 10,000 and 100,000 live side by side."""
    return "bench-admin" if bookings == 10_000 else f"bench-admin-{bookings}"


def _seed(bookings_wanted: int) -> None:
    import datetime as dt
    import random

    from django.utils import timezone

    from bookings.models import Attendee, Booking, BookingLine
    from events.models import Event, Membership, Organiser, Session, TicketType, Venue
    from integrations.models import Connection, ExternalOrder, Listing

    slug = _slug(bookings_wanted)
    if Organiser.objects.filter(slug=slug).exists():
        return
    print(f"seeding {bookings_wanted:,} bookings…", flush=True)
    rng = random.Random(19)
    now = timezone.now()
    organiser = Organiser.objects.create(
        name="Bench back office",
        slug=slug,
        country="FR",
        currency="EUR",
        timezone="Europe/Paris",
        reference_prefix="BO" if bookings_wanted == 10_000 else "BX",
        contact_email="bench@example.org",
    )
    venue = Venue.objects.create(
        organiser=organiser,
        name="Hall",
        address="1 rue",
        city="Paris",
        country="FR",
        timezone="Europe/Paris",
    )
    sessions, types = [], {}
    for index in range(EVENTS):
        event = Event.objects.create(
            organiser=organiser,
            title=f"Show {index}",
            slug=f"{slug}-show-{index}",
            status=Event.Status.PUBLISHED,
            currency="EUR",
            timezone="Europe/Paris",
        )
        types[event.pk] = TicketType.objects.create(
            event=event, name="Regular", price_minor=4500
        )
        for offset in range(SESSIONS_PER_EVENT):
            starts = now + dt.timedelta(days=5 + index + offset * 7)
            sessions.append(
                Session.objects.create(
                    event=event,
                    venue=venue,
                    starts_at=starts,
                    ends_at=starts + dt.timedelta(hours=3),
                    capacity=1000,
                )
            )
    bookings = []
    for number in range(bookings_wanted):
        session = rng.choice(sessions)
        quantity = rng.choice((1, 1, 2, 2, 3, 4))
        channel = rng.choice(("web", "web", "web", "api", "admin"))
        comp = channel == "admin" and rng.random() < 0.5
        status = rng.choices(("confirmed", "pending", "cancelled"), weights=(90, 4, 6))[
            0
        ]
        created = now - dt.timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        total = 0 if comp else 4500 * quantity
        bookings.append(
            Booking(
                organiser=organiser,
                event_id=session.event_id,
                session=session,
                reference=f"{organiser.reference_prefix}-{number:06d}",
                status=status,
                channel=channel,
                is_complimentary=comp,
                quantity=quantity,
                currency="EUR",
                subtotal_minor=total,
                total_minor=total,
                buyer_name=f"Buyer {number}",
                buyer_email=f"buyer{number}@example.org",
                expires_at=now + dt.timedelta(minutes=10)
                if status == "pending"
                else None,
                confirmed_at=created if status == "confirmed" else None,
            )
        )
    Booking.objects.bulk_create(bookings, batch_size=2000)
    # auto_now_add ignores the value given: spread creation times afterwards.
    for booking in bookings:
        booking.created_at = booking.confirmed_at or now
    Booking.objects.bulk_update(bookings, ["created_at"], batch_size=2000)
    lines = [
        BookingLine(
            booking=booking,
            ticket_type=types[booking.event_id],
            quantity=booking.quantity,
            unit_price_minor=0 if booking.is_complimentary else 4500,
            subtotal_minor=booking.subtotal_minor,
            total_minor=booking.total_minor,
            price_rule="comp" if booking.is_complimentary else "regular",
        )
        for booking in bookings
    ]
    BookingLine.objects.bulk_create(lines, batch_size=2000)
    Attendee.objects.bulk_create(
        [
            Attendee(booking=line.booking, line=line, name=f"Guest {line.pk}-{i}")
            for line in lines
            for i in range(line.quantity)
        ],
        batch_size=4000,
    )
    orders = []
    for platform in ("billetweb", "humanitix", "eventbrite"):
        connection = Connection.objects.create(organiser=organiser, platform=platform)
        for session in sessions[::4]:
            listing = Listing.objects.create(
                connection=connection,
                session=session,
                external_event_id=f"{platform}-{session.pk}",
                places_sold=20,
            )
            for number in range(5):
                orders.append(
                    ExternalOrder(
                        listing=listing,
                        external_id=f"{listing.pk}-{number}",
                        status="active",
                        quantity=4,
                        placed_at=now - dt.timedelta(days=rng.randrange(30)),
                    )
                )
    ExternalOrder.objects.bulk_create(orders)
    long_run = Event.objects.create(
        organiser=organiser,
        title="Long run",
        slug=f"{slug}-long-run",
        status=Event.Status.PUBLISHED,
        currency="EUR",
        timezone="Europe/Paris",
    )
    for allocation in (None, 100, 50):
        TicketType.objects.create(
            event=long_run,
            name=f"Seat {allocation}",
            price_minor=4500,
            allocation=allocation,
        )
    Session.objects.bulk_create(
        Session(
            event=long_run,
            venue=venue,
            starts_at=now + dt.timedelta(days=1, hours=6 * number),
            ends_at=now + dt.timedelta(days=1, hours=6 * number + 2),
            capacity=500,
        )
        for number in range(LONG_RUN_DATES)
    )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        f"{slug}-manager", password="bench-admin-password", is_staff=True
    )
    Membership.objects.create(
        organiser=organiser, user=user, role=Membership.Role.MANAGER
    )
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("ANALYZE")


def _time(client, path: str, count: int) -> dict:
    for _ in range(3):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[max(0, round(0.95 * len(samples)) - 1)],
        "n": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("SITE_URL", "http://localhost")
    harness.migrated_database(DATABASE_URL)
    _seed(args.bookings)
    slug = _slug(args.bookings)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.http import HttpResponse
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.urls import path

    def bare(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return HttpResponse("ok")

    class Urls:
        from ticketing.urls import urlpatterns as project

        urlpatterns = [path("bench-bare/", bare), *project]

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username=f"{slug}-manager"))
    results = {}
    from django.conf import settings

    storages = {
        **settings.STORAGES,
        # No collectstatic here: plain storage, as the tests use.
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    pages = {
        "dashboard /admin/": "/admin/",
        "bookings changelist": "/admin/bookings/booking/",
        "changelist, search": "/admin/bookings/booking/?q=buyer42%40example.org",
        "payments changelist": "/admin/payments/payment/",
        "sessions changelist": "/admin/events/session/",
        f"event page, {LONG_RUN_DATES} dates": f"/e/{slug}-long-run/",
    }
    with override_settings(
        ROOT_URLCONF=Urls, ALLOWED_HOSTS=["localhost"], STORAGES=storages
    ):
        results["bare view (SELECT 1)"] = _time(client, "/bench-bare/", args.requests)
        for label, url in pages.items():
            results[label] = _time(client, url, args.requests)
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            results[label]["queries"] = len(queries)
    print(
        f"\n{args.bookings:,} bookings\n{'page':<28}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'queries':>9}{'x bare p95':>12}  target"
    )
    bare_p95 = results["bare view (SELECT 1)"]["p95"]
    goals = []
    for label, row in results.items():
        bare_row = label.startswith("bare")
        target = (
            ""
            if bare_row
            else ("ok" if row["p95"] < TARGET_MS else f"MISSED (p95 >= {TARGET_MS} ms)")
        )
        print(
            f"{label:<28}{row['p50']:>9.1f}{row['p95']:>9.1f}"
            f"{row.get('queries', '-'):>9}{row['p95'] / bare_p95:>12.1f}  {target}"
        )
        if not bare_row:
            goals.append(
                harness.goal(
                    f"{label}, {args.bookings:,} bookings: p95 ms / {TARGET_MS} ms",
                    row["p95"],
                    TARGET_MS,
                    1.0,
                    unit="ms",
                    lower_is_better=True,
                    queries=row["queries"],
                )
            )
    ping = None
    if not args.skip_baseline:
        baseline = harness.django_baseline(5, 2)  # wrk: at least 2 connections
        ping = baseline and baseline.get("ping")
        if ping:
            print(
                "\nshared bare Django view (gunicorn + wrk, 2 connections): "
                f"p50 {ping['p50_ms']} ms, p99 {ping['p99_ms']} ms, {ping['rps']} req/s"
            )
    harness.record(
        "admin_pages",
        {"bookings": args.bookings, "pages": results, "ping": ping, "goals": goals},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
