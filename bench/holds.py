"""Holds per second and latency of `booking_create` on PostgreSQL, against pgbench.

    .venv/bin/python bench/holds.py [--duration 10] [--workers 1,8,32] [--skip-baseline]

Each scenario starts N worker processes (not threads) that each call the real service,
one seat per hold, for --duration seconds. Scenarios: one hot session at each worker
count, then 100 sessions in parallel at the highest count. Then an oversell check (a
session of 500 seats, every worker buying until refused) and the bulk expiry of 100,000
stale holds. Two baselines run in the same invocation, both pgbench at 32 clients:
../shared/bench's "forupdate" sale (lock, check, insert one row, update a counter) and
bench/pg/hold.sql, this project's exact hold written in SQL; the latter also runs right
after each hot-session scenario at its worker count (columns "SQL tps" and "ratio").
The figures that matter are the ratios.

Uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
bench_holds), created and migrated on first use, and Redis db 1 for the cache.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

ROOT = harness.ROOT
SHARED_PGBENCH = harness.PGBENCH
DATABASE_URL = harness.database_url("bench_holds")


def _django_setup() -> None:
    # These scripts call the services directly at 32 workers on one session to
    # measure the lock-bound sale itself; load shedding (bookings/shedding.py, 8 in
    # flight) would refuse most of them. bench/flash_sale.py measures it on.
    os.environ.setdefault("SALE_MAX_IN_FLIGHT_PER_SESSION", "0")
    harness.django_setup(DATABASE_URL)


def _ensure_database() -> None:
    harness.ensure_database(DATABASE_URL)


def _fixtures(sessions: int, capacity: int) -> tuple[list[int], int]:
    """Fresh organiser, event, `sessions` sessions and one ticket type."""
    import datetime as dt

    from django.utils import timezone

    from events.models import Event, Organiser, Session, TicketType, Venue

    stamp = f"{time.time_ns() % 10**12:012d}"
    prefix = "B" + "".join("ABCDEFGHJK"[int(d)] for d in stamp[-5:])
    organiser = Organiser.objects.create(
        name=f"Bench {stamp}",
        slug=f"bench-{stamp}",
        country="FR",
        currency="EUR",
        timezone="Europe/Paris",
        reference_prefix=prefix,
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
    event = Event.objects.create(
        organiser=organiser,
        title="Bench",
        slug=f"bench-{stamp}",
        currency="EUR",
        status=Event.Status.PUBLISHED,
    )
    starts = timezone.now() + dt.timedelta(days=30)
    created = Session.objects.bulk_create(
        [
            Session(
                event=event,
                venue=venue,
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=2),
                capacity=capacity,
            )
            for _ in range(sessions)
        ]
    )
    ticket_type = TicketType.objects.create(event=event, name="Seat", price_minor=4500)
    return [session.pk for session in created], ticket_type.pk


def _worker(
    session_ids, ticket_type_id, duration, start, results, seed, until_sold_out
):
    _django_setup()
    import random

    from bookings.exceptions import InventoryBusy, SoldOut
    from bookings.services import AttendeeInput, BuyerInput, LineInput, booking_create

    rng = random.Random(seed)
    line = [LineInput(ticket_type_id, 1)]
    people = [AttendeeInput(name="Guest")]
    latencies, sold_out, busy, errors = [], 0, 0, 0
    start.wait()
    deadline = time.perf_counter() + duration
    attempt = 0
    while time.perf_counter() < deadline:
        # One buyer per hold, as in a rush: one email may hold only its share.
        attempt += 1
        buyer = BuyerInput(name="Bench Buyer", email=f"b{seed}-{attempt}@example.org")
        began = time.perf_counter()
        try:
            booking_create(
                session_id=rng.choice(session_ids),
                lines=line,
                buyer=buyer,
                attendees=people,
            )
            latencies.append(time.perf_counter() - began)
        except SoldOut:
            sold_out += 1
            if until_sold_out:
                break
        except InventoryBusy:
            busy += 1
        except Exception:  # a benchmark counts every failure, whatever its kind
            errors += 1
    results.put(
        {"latencies": latencies, "sold_out": sold_out, "busy": busy, "errors": errors}
    )


def _run(
    workers: int, session_ids, ticket_type_id, duration, until_sold_out=False
) -> dict:
    context = mp.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(
                session_ids,
                ticket_type_id,
                duration,
                start,
                results,
                seed,
                until_sold_out,
            ),
        )
        for seed in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(2.0 + workers * 0.08)  # let every worker import Django and connect
    began = time.perf_counter()
    start.set()
    collected = [results.get(timeout=duration + 120) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    latencies = sorted(x for c in collected for x in c["latencies"])

    def pct(p):
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "workers": workers,
        "sessions": len(session_ids),
        "holds": len(latencies),
        "holds_per_s": round(len(latencies) / min(elapsed, duration), 1),
        "p50_ms": round(pct(50), 2),
        "p95_ms": round(pct(95), 2),
        "p99_ms": round(pct(99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        "sold_out": sum(c["sold_out"] for c in collected),
        "busy": sum(c["busy"] for c in collected),
        "errors": sum(c["errors"] for c in collected),
    }


def _oversold(session_ids) -> int:
    from django.db.models import Sum

    from bookings.models import Booking
    from events.models import Session

    over = 0
    for session in Session.objects.filter(pk__in=session_ids):
        taken = (
            Booking.objects.filter(session=session)
            .exclude(status__in=["cancelled", "expired", "refunded"])
            .aggregate(total=Sum("quantity"))["total"]
            or 0
        )
        over += max(0, taken - session.capacity)
    return over


def _expiry_benchmark(count: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from bookings.models import Booking
    from bookings.services import booking_expire_stale
    from events.models import Session

    booking_expire_stale()  # holds left stale by earlier runs are not this figure's
    session_ids, ticket_type_id = _fixtures(1, 10**9)
    session = Session.objects.select_related("event").get(pk=session_ids[0])
    prefix = session.event.organiser.reference_prefix
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Booking._meta.db_table}
              (organiser_id, event_id, session_id, reference, status, channel,
               quantity, currency, subtotal_minor, discount_minor, total_minor,
               buyer_name, buyer_email, buyer_phone, needs_attention, expires_at,
               created_at, language, is_complimentary)
            SELECT %s, %s, %s, %s || '-X' || g, 'pending', 'web', 1, 'EUR', 4500, 0,
                   4500, 'Stale', 'stale@example.org', '', false,
                   now() - interval '1 minute', now() - interval '20 minutes', 'en',
                   false
            FROM generate_series(1, %s) g""",
            [session.event.organiser_id, session.event_id, session.pk, prefix, count],
        )
        cursor.execute(f"ANALYZE {Booking._meta.db_table}")
    began = time.perf_counter()
    expired = booking_expire_stale(now=timezone.now())
    seconds = time.perf_counter() - began
    return {"stale_holds": count, "expired": expired, "seconds": round(seconds, 2)}


def _pgbench_baseline(duration: int) -> dict | None:
    if not SHARED_PGBENCH.exists():
        print(f"baseline skipped: {SHARED_PGBENCH} not found")
        return None
    setup = SHARED_PGBENCH.parent.parent / "setup_services.sh"
    subprocess.run(["bash", str(setup)], capture_output=True, check=False)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        done = subprocess.run(
            [
                sys.executable,
                str(SHARED_PGBENCH),
                "--variants",
                "forupdate",
                "--clients",
                "32",
                "--duration",
                str(duration),
                "--repeats",
                "1",
                "--out",
                out.name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = Path(out.name).read_text().splitlines()
    if done.returncode or not lines:
        print("baseline failed:", (done.stderr or done.stdout)[-500:])
        return None
    return json.loads(lines[-1])


def _pgbench_same_transaction(
    duration: int, clients: int = 32, script: str = "hold.sql"
) -> dict | None:
    """pgbench running bench/pg/`script` (hold.sql: our exact hold in plain SQL), on
    a fresh session of the bench database."""
    import re
    from urllib.parse import urlparse

    from django.contrib.contenttypes.models import ContentType

    from bookings.models import Booking
    from events.models import Session

    session_ids, ticket_type_id = _fixtures(1, 10**9)
    session = Session.objects.select_related("event").get(pk=session_ids[0])
    url = urlparse(DATABASE_URL)
    variables = {
        "session_id": session.pk,
        "ticket_type_id": ticket_type_id,
        "organiser_id": session.event.organiser_id,
        "event_id": session.event_id,
        "content_type_id": ContentType.objects.get_for_model(Booking).pk,
    }
    command = [
        "pgbench",
        "-n",
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        "-f",
        str(ROOT / "bench" / "pg" / script),
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(duration),
        "-r",
    ]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    done = subprocess.run(
        [*command, url.path.lstrip("/")], capture_output=True, text=True, check=False
    )
    tps = re.search(r"tps = ([\d.]+) \(without initial", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    if done.returncode or not tps:
        print("same-transaction pgbench failed:", (done.stderr or done.stdout)[-500:])
        return None
    return {
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)),
        "clients": clients,
        "oversold": _oversold(session_ids),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--expire", type=int, default=100_000)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]

    _ensure_database()
    _django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    rows, all_session_ids, same_sql_at = [], [], {}
    for workers in worker_counts:
        session_ids, ticket_type_id = _fixtures(1, 10**9)
        all_session_ids += session_ids
        rows.append(
            _run(workers, session_ids, ticket_type_id, args.duration)
            | {"scenario": "hot session"}
        )
        if not args.skip_baseline:
            # The same hold in SQL at the same concurrency, right after: pgbench's
            # own rate falls as clients queue on the row lock too, and the two
            # curves side by side show what our client adds at each level.
            same_sql_at[workers] = _pgbench_same_transaction(
                args.duration, clients=workers
            )
            rows[-1]["sql_tps"] = (same_sql_at[workers] or {}).get("tps")
    session_ids, ticket_type_id = _fixtures(100, 10**9)
    all_session_ids += session_ids
    rows.append(
        _run(max(worker_counts), session_ids, ticket_type_id, args.duration)
        | {"scenario": "100 sessions"}
    )

    check_ids, check_type = _fixtures(1, 500)
    check = _run(max(worker_counts), check_ids, check_type, 120, until_sold_out=True)
    check_oversold = _oversold(check_ids)
    oversold = check_oversold + _oversold(all_session_ids)

    expiry = _expiry_benchmark(args.expire) if args.expire else None
    baseline = None if args.skip_baseline else _pgbench_baseline(args.duration)
    same_sql = same_sql_at.get(32)
    if same_sql is None and not args.skip_baseline:
        same_sql = _pgbench_same_transaction(args.duration)

    print()
    print(
        f"{'scenario':<14}{'workers':>8}{'holds/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'holds':>8}{'busy':>6}{'errors':>7}"
        f"{'SQL tps':>9}{'ratio':>7}"
    )
    for row in rows:
        sql_tps = row.get("sql_tps")
        print(
            f"{row['scenario']:<14}{row['workers']:>8}{row['holds_per_s']:>10}"
            f"{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}"
            f"{row['holds']:>8}{row['busy']:>6}{row['errors']:>7}"
            + (
                f"{sql_tps:>9.0f}{row['holds_per_s'] / sql_tps:>7.2f}"
                if sql_tps
                else ""
            )
        )
    print(
        f"oversell check: 500 seats, {max(worker_counts)} workers until refused: "
        f"{check['holds']} held, {check['sold_out']} refused, oversold "
        f"{check_oversold}, errors {check['errors']}"
    )
    print(f"oversold seats in all scenarios: {oversold}")
    if expiry:
        print(
            f"expiry: {expiry['expired']} of {expiry['stale_holds']} stale holds "
            f"expired in {expiry['seconds']} s"
        )
    hot32 = next(
        (r for r in rows if r["scenario"] == "hot session" and r["workers"] == 32), None
    )
    if baseline and baseline.get("tps"):
        print(
            f"baseline pgbench forupdate, 32 clients: {baseline['tps']:.0f} tps, "
            f"p50 {baseline['p50_ms']} ms, p99 {baseline['p99_ms']} ms"
        )
        if hot32:
            print(
                f"ratio hot session 32 workers / pgbench: "
                f"{hot32['holds_per_s'] / baseline['tps']:.2f} (no target: the"
                " issue's is against our own hold in SQL, below)"
            )
    if same_sql:
        print(
            f"pgbench running our own hold in SQL (bench/pg/hold.sql), 32 clients: "
            f"{same_sql['tps']:.0f} tps, mean latency {same_sql['latency_avg_ms']} ms"
        )
        if hot32:
            print(
                "ratio hot session 32 workers / same transaction in SQL: "
                f"{hot32['holds_per_s'] / same_sql['tps']:.2f} (target >= 0.60)"
            )
    figures = {
        "rows": rows,
        "same_transaction_sql": same_sql,
        "oversell_check": check | {"oversold": check_oversold},
        "expiry": expiry,
        "baseline": baseline,
        "goals": [
            harness.goal(
                "holds, hot session, 32 workers / our hold in SQL (pgbench)",
                hot32 and hot32["holds_per_s"],
                same_sql and same_sql.get("tps"),
                0.60,
                unit="holds/s",
                oversold=oversold,
            )
        ],
    }
    harness.record("holds", figures)
    print(
        json.dumps(
            {
                "rows": rows,
                "same_transaction_sql": same_sql,
                "oversell_check": check | {"oversold": check_oversold},
                "expiry": expiry,
                "baseline": baseline,
            }
        )
    )
    return 1 if oversold else 0


if __name__ == "__main__":
    sys.exit(main())
