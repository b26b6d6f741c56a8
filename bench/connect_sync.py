"""How long pushing a catalogue to a Stripe connected account takes, against its ideal.

    .venv/bin/python bench/connect_sync.py [--events 200] [--types 4]
                                           [--latency 0.05] [--concurrency 4]
                                           [--rate-limit 25/s]

Starts the fake Stripe in a process of its own, answering every call after
`--latency` seconds; makes a fresh organiser with a connected account and `--events`
published events of `--types` ticket types each (1,000 objects by default), which
queues one outbox row per object through the real receivers; makes every row due and
times `--concurrency` worker processes dispatching the outbox (the real handler: the
SDK over HTTP, `Stripe-Account`, idempotency keys, the advisory lock per event, and
the rate limiter shared through Redis) until no push is left.

The ideal is the larger of `calls x latency / concurrency` (the calls alone with
perfect parallelism) and `calls / rate limit` (the limit's floor), calls counted by
the fake; the ratio to it is what the code adds (target <= 1.2).

Uses its own database (BENCH_DATABASE_URL, default .../bench_connect_sync) and the
REDIS_URL of the environment (default Redis db 1).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_connect_sync"
)
os.environ.setdefault("SITE_URL", "http://localhost")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import holds as hold_bench  # noqa: E402  (database set-up shared with the hold bench)


def _serve_fake(pipe, latency: float) -> None:
    """The fake Stripe, answering on the pipe: "account" makes a connected account,
    "calls" counts the requests served, "state" sums up what each account holds."""
    from payments.tests.fakes.stripe_server import StripeFake

    fake = StripeFake().start()
    fake.latency = latency
    pipe.send((fake.url, fake.secret_key))
    while True:
        command, account = pipe.recv()
        if command == "account":
            pipe.send(fake.add_account(charges_enabled=True)["id"])
        elif command == "calls":
            pipe.send(len(fake.requests))
        else:
            products = fake.products_on(account)
            prices = fake.prices_on(account)
            pipe.send(
                (
                    sum(p["active"] for p in products),
                    len(products),
                    sum(p["active"] for p in prices),
                    len(prices),
                )
            )


def _ask(pipe, command: str, account: str = ""):
    pipe.send((command, account))
    return pipe.recv()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(env: dict[str, str], ready, go, spent) -> None:
    os.environ.update(env)
    hold_bench._django_setup()
    from integrations.stripe_catalog.services import KIND
    from ticketing import outbox
    from ticketing.models import OutboxMessage

    ready.wait()
    go.wait()
    before = _cpu_seconds()
    pending = OutboxMessage.objects.filter(kind=KIND, status="pending")
    while pending.exists():
        if not outbox.dispatch(kinds=[KIND], limit=5):
            time.sleep(0.02)  # rows held by other workers, or backing off
    spent.put(_cpu_seconds() - before)


def _fixtures(types: int, events: int, account_id: str) -> int:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from events.models import Event, Session, TicketType
    from payments.models import ConnectedAccount

    # The hold bench's organiser, venue and event; the organiser gets its account
    # after them, so they are not pushed.
    session_ids, _ = hold_bench._fixtures(1, 500)
    first = Session.objects.select_related("event__organiser", "venue").get(
        pk=session_ids[0]
    )
    organiser, venue = first.event.organiser, first.venue
    stamp = organiser.slug
    ConnectedAccount.objects.create(
        organiser=organiser, account_id=account_id, charges_enabled=True
    )
    starts = timezone.now() + dt.timedelta(days=30)
    with transaction.atomic():  # as an import would: one transaction, one row each
        for n in range(events):
            event = Event.objects.create(
                organiser=organiser,
                title=f"Concert {n}",
                slug=f"{stamp}-connect-{n}",
                description="An evening of music. " * 20,
                currency="EUR",
                status=Event.Status.PUBLISHED,
            )
            Session.objects.create(
                event=event,
                venue=venue,
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=2),
                capacity=500,
            )
            for k in range(types):
                TicketType.objects.create(
                    event=event, name=f"Tier {k}", price_minor=1500 + 500 * k
                )
    return organiser.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--types", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate-limit", default="25/s")
    args = parser.parse_args()

    parent_end, child_end = mp.Pipe()
    server = mp.Process(target=_serve_fake, args=(child_end, args.latency), daemon=True)
    server.start()
    fake_url, secret_key = parent_end.recv()
    env = {
        "STRIPE_API_BASE": fake_url,
        "STRIPE_SECRET_KEY": secret_key,
        "STRIPE_CATALOG_RATE_LIMIT": args.rate_limit,
        "BENCH_DATABASE_URL": hold_bench.DATABASE_URL,
    }
    os.environ.update(env)
    hold_bench._ensure_database()
    hold_bench._django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.utils import timezone

    from integrations.stripe_catalog.models import CatalogSyncLog
    from integrations.stripe_catalog.services import KIND
    from ticketing.lib.ratelimit import RateLimit
    from ticketing.models import OutboxMessage

    # Rows an interrupted earlier run left would push to accounts this fake lacks.
    OutboxMessage.objects.filter(kind=KIND, status="pending").delete()
    account_id = _ask(parent_end, "account")
    organiser_id = _fixtures(args.types, args.events, account_id)
    objects = OutboxMessage.objects.filter(kind=KIND, status="pending").count()
    OutboxMessage.objects.filter(kind=KIND, status="pending").update(
        next_attempt_at=timezone.now()
    )

    spawn = mp.get_context("spawn")
    ready = spawn.Barrier(args.concurrency + 1)
    go = spawn.Barrier(args.concurrency + 1)
    spent = spawn.Queue()
    workers = [
        spawn.Process(target=_worker, args=(dict(os.environ), ready, go, spent))
        for _ in range(args.concurrency)
    ]
    for worker in workers:
        worker.start()
    ready.wait()  # every worker has set Django up
    before = _ask(parent_end, "calls")
    started = time.perf_counter()
    go.wait()
    cpu = sum(spent.get() for _ in workers)  # pushing only, not Django's set-up
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    calls = _ask(parent_end, "calls") - before

    limit = RateLimit.parse(args.rate_limit)
    rate = limit.calls / limit.period_seconds
    ideal = max(calls * args.latency / args.concurrency, calls / rate)
    active_products, products, active_prices, prices = _ask(
        parent_end, "state", account_id
    )
    logs = CatalogSyncLog.objects.filter(organiser_id=organiser_id)
    failed = logs.filter(status="failed").count()
    print(
        f"{objects} objects ({args.events} events x {args.types} ticket types), fake "
        f"Stripe answering in {args.latency * 1000:.0f} ms, {args.concurrency} "
        f"worker processes, rate limit {args.rate_limit}"
    )
    print()
    print("| calls | elapsed s | ideal s | ratio | calls/s | failed pushes |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {calls} | {elapsed:.2f} | {ideal:.2f} | {elapsed / ideal:.2f} | "
        f"{calls / elapsed:.1f} | {failed} |"
    )
    print()
    print(
        f"Workers' CPU: {cpu:.1f} s in all, {cpu / max(objects, 1) * 1000:.1f} ms per "
        f"push; load average at the end {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"Stripe side: {active_products} of {products} Products active, "
        f"{active_prices} of {prices} Prices active (expected {args.events} and "
        f"{args.events * args.types})"
    )
    server.terminate()
    right = (active_products, active_prices) == (args.events, args.events * args.types)
    return 0 if right else 1


if __name__ == "__main__":
    sys.exit(main())
