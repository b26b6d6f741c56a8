"""How long a platform sync of many listings takes, against its ideal.

    .venv/bin/python bench/sync.py [--listings 200] [--latency 0.2]
                                   [--concurrency 8 16 32] [--orders 3]
                                   [--profile N]

Starts the fake Billetweb on 127.0.0.1 answering every call after `--latency`
seconds, maps `--listings` local sessions to its dates (each with `--orders` orders
sold), and times a forced `connection_sync` (every listing fetched: places, then the
orders, through the real HTTP client with its retries, breaker and rate limiter, and
every result written to PostgreSQL) at each concurrency. The ideal is
`calls x latency / concurrency`, the time the calls alone would take with perfect
parallelism; the ratio to it is what the code adds. A last run without `force` shows
the cache: no call at all.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
import holds as hold_bench  # noqa: E402  (the same database and fixtures)


def _serve_fake(pipe, listings: int, orders: int, latency: float) -> None:
    """The fake Billetweb in a process of its own, so that its work does not share
    the syncing process's interpreter lock. Answers each message on the pipe with
    the number of requests served so far."""
    from integrations.tests.fakes.billetweb_server import BilletwebFake

    fake = BilletwebFake().start()
    dates = []
    for _ in range(listings):
        event_id = fake.add_event()
        date_id = fake.add_date(event_id, quota=500)
        for _ in range(orders):
            fake.sell(event_id, date_id, 2)
        dates.append((event_id, date_id))
    fake.latency = latency
    pipe.send((fake.url, fake.user, fake.key, dates))
    while True:
        pipe.recv()
        pipe.send(len(fake.requests))


class _ThreadProfiles:
    """cProfile in every thread the sync starts (threading.setprofile installs it
    in each new thread) and in the calling thread, merged at the end."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, *_args) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waits
        with self._lock:
            self.profiles.append(profile)
        sys.setprofile(None)  # this thread's hook, replaced by the profiler
        profile.enable()

    def __enter__(self):
        threading.setprofile(self._start_in_thread)
        self._start_in_thread()
        return self

    def __exit__(self, *exc) -> None:
        threading.setprofile(None)
        for profile in self.profiles:
            profile.disable()

    def print(self, top: int, concurrency: int) -> None:
        out = io.StringIO()
        stats = pstats.Stats(*self.profiles, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        # Where the CPU goes in our code and in the libraries' entry points.
        ours = r"integrations/|bookings/|ticketing/|requests/sessions"
        stats.sort_stats("cumulative").print_stats(ours, top)
        print(f"\nprofile at concurrency {concurrency}, {len(self.profiles)} threads:")
        print(out.getvalue())


def _calls(pipe) -> int:
    pipe.send("calls")
    return pipe.recv()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile the pool threads and print the N costliest functions "
        "(by their own CPU time) of each run",
    )
    args = parser.parse_args()

    parent_end, child_end = mp.Pipe()
    server = mp.Process(
        target=_serve_fake,
        args=(child_end, args.listings, args.orders, args.latency),
        daemon=True,
    )
    server.start()
    fake_url, fake_user, fake_key, dates = parent_end.recv()
    os.environ.update(
        {
            "BILLETWEB_API_BASE": fake_url + "/api",
            "BILLETWEB_RATE_LIMIT": "0",  # the fake has no limit; Billetweb has one
        }
    )
    hold_bench._ensure_database()
    hold_bench._django_setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from events.models import Session
    from integrations.models import Connection, Listing
    from integrations.services.sync import connection_sync
    from ticketing.lib.http import breaker_for, sessions_reset

    session_ids, _ticket_type = hold_bench._fixtures(args.listings, 1000)
    organiser = (
        Session.objects.select_related("event__organiser")
        .get(pk=session_ids[0])
        .event.organiser
    )
    connection = Connection(
        organiser=organiser, platform="billetweb", account_id=fake_user
    )
    connection.set_credentials(fake_key)
    connection.save()
    Listing.objects.bulk_create(
        Listing(
            connection=connection,
            session_id=session_id,
            external_event_id=event_id,
            external_date_id=date_id,
        )
        for session_id, (event_id, date_id) in zip(session_ids, dates, strict=True)
    )
    breaker_for("billetweb").reset()

    print(
        f"{args.listings} listings, fake Billetweb answering in "
        f"{args.latency * 1000:.0f} ms, {args.orders} orders of 2 tickets each"
    )
    print()
    print(
        "| concurrency | calls | total s | ideal s | ratio | listings failed "
        "| CPU s (this process) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    goals = []
    for concurrency in args.concurrency:
        settings.INTEGRATIONS_SYNC_CONCURRENCY = concurrency
        sessions_reset()  # the connection pool is sized from the concurrency
        before = _calls(parent_end)
        profiler = _ThreadProfiles() if args.profile else None
        started, cpu = time.perf_counter(), time.process_time()
        with profiler or nullcontext():
            run = connection_sync(
                connection_id=connection.pk, trigger="manual", force=True
            )
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if profiler:
            profiler.print(args.profile, concurrency)
        calls = _calls(parent_end) - before
        ideal = calls * args.latency / concurrency
        worst = max(worst, total / ideal)
        print(
            f"| {concurrency} | {calls} | {total:.2f} | {ideal:.2f} | "
            f"{total / ideal:.2f} | {run.listings_failed} | {cpu:.2f} |"
        )
        goals.append(
            harness.goal(
                f"sync, {args.listings} listings, concurrency {concurrency} / ideal",
                total,
                ideal,
                1.25,
                unit="s",
                lower_is_better=True,
            )
        )
    before = _calls(parent_end)
    started = time.perf_counter()
    run = connection_sync(connection_id=connection.pk, trigger="manual")
    print()
    print(
        f"Within the cache TTL: {run.listings_cached} listings served from the "
        f"cache, {_calls(parent_end) - before} calls, "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    sold = sum(
        Session.objects.filter(pk__in=session_ids).values_list(
            "external_sold_count", flat=True
        )
    )
    print(
        f"External seats recorded: {sold} (expected {args.listings * args.orders * 2})"
    )
    server.terminate()
    harness.record("sync", {"goals": goals, "external_seats": sold})
    return 0 if sold == args.listings * args.orders * 2 else 1


if __name__ == "__main__":
    sys.exit(main())
