"""Stripe webhook deliveries processed per second on PostgreSQL.

    .venv/bin/python bench/webhooks.py [--payments 1000] [--workers 8] [--skip-baseline]

Holds `--payments` bookings over 100 sessions and opens a PaymentIntent for each
against the local Stripe fake (the official SDK talks to it), marks them paid, then N
worker processes deliver every `payment_intent.succeeded` event twice, shuffled, each
signed as Stripe signs it. A delivery is what a web process plus a worker do: verify
the signature, store it once, ask the "provider" again, lock and confirm the booking.
Reports deliveries per second with latency percentiles, checks every booking was
confirmed exactly once, and runs the shared pgbench "forupdate" sale as the baseline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
import holds as hold_bench  # noqa: E402  (the same database and fixtures)


def _worker(deliveries, start, results):
    hold_bench._django_setup()
    from payments.providers.base import WebhookSignatureError
    from payments.services import webhook_receive

    latencies, errors = [], 0
    start.wait()
    for body, signature in deliveries:
        began = time.perf_counter()
        try:
            webhook_receive(
                provider="stripe", body=body, headers={"Stripe-Signature": signature}
            )
            latencies.append(time.perf_counter() - began)
        except WebhookSignatureError:
            errors += 1
        except Exception:  # a benchmark counts every failure, whatever its kind
            errors += 1
    results.put({"latencies": latencies, "errors": errors})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    from payments.tests.fakes.stripe_server import StripeFake

    fake = StripeFake().start()
    os.environ.update(
        {
            "STRIPE_API_BASE": fake.url,
            "STRIPE_SECRET_KEY": fake.secret_key,
            "STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
            # Processing runs in the delivering process, as a worker would run it.
            "CELERY_TASK_ALWAYS_EAGER": "1",
        }
    )
    hold_bench._ensure_database()
    hold_bench._django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bookings.models import Booking
    from bookings.services import AttendeeInput, BuyerInput, LineInput, booking_create
    from payments.services import payment_start

    session_ids, ticket_type_id = hold_bench._fixtures(100, 10**6)
    buyer = BuyerInput(name="Bench Buyer", email="buyer@example.org")
    prepared = time.perf_counter()
    booking_ids, events = [], []
    for index in range(args.payments):
        booking = booking_create(
            session_id=session_ids[index % len(session_ids)],
            lines=[LineInput(ticket_type_id, 1)],
            buyer=buyer,
            attendees=[AttendeeInput(name="Guest")],
        )
        payment = payment_start(
            booking_id=booking.pk, provider="stripe", return_url="http://localhost/"
        )
        fake.succeed(payment.provider_reference)
        events.append(
            fake.signed_event(
                "payment_intent.succeeded",
                fake.payment_intent(payment.provider_reference),
            )
        )
        booking_ids.append(booking.pk)
    prepared = time.perf_counter() - prepared

    deliveries = events + events  # every event delivered twice
    random.Random(1).shuffle(deliveries)
    context = mp.get_context("spawn")
    start, results = context.Event(), context.Queue()
    shares = [deliveries[n :: args.workers] for n in range(args.workers)]
    processes = [
        context.Process(target=_worker, args=(share, start, results))
        for share in shares
    ]
    for process in processes:
        process.start()
    time.sleep(2.0 + args.workers * 0.1)
    began = time.perf_counter()
    start.set()
    collected = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    fake.stop()

    latencies = [x * 1000 for c in collected for x in c["latencies"]]
    points = harness.percentiles(latencies)

    def pct(p):
        return points[f"p{p}"]

    confirmed = Booking.objects.filter(
        pk__in=booking_ids, status=Booking.Status.CONFIRMED
    ).count()
    from payments.models import WebhookDelivery
    from ticketing.models import AuditEntry

    stored = WebhookDelivery.objects.filter(
        event_id__in=[json.loads(body)["id"] for body, _ in events]
    ).count()
    confirmations = AuditEntry.objects.filter(
        action="bookings.booking.confirmed",
        object_id__in=[str(pk) for pk in booking_ids],
    ).count()
    baseline = None if args.skip_baseline else hold_bench._pgbench_baseline(10)

    rate = len(latencies) / elapsed
    print()
    print(f"setup: {args.payments} holds and PaymentIntents in {prepared:.1f} s")
    print(
        f"deliveries: {len(deliveries)} ({args.payments} events x 2) by "
        f"{args.workers} processes in {elapsed:.1f} s: {rate:.1f}/s, "
        f"p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, p99 {pct(99):.1f} ms, "
        f"errors {sum(c['errors'] for c in collected)}"
    )
    print(
        f"bookings confirmed {confirmed}/{args.payments}, confirmation audit rows "
        f"{confirmations}, verified deliveries stored {stored}"
    )
    if baseline and baseline.get("tps"):
        print(
            f"baseline pgbench forupdate, 32 clients: {baseline['tps']:.0f} tps; "
            f"ratio {rate / baseline['tps']:.2f}"
        )
    ok = confirmed == confirmations == stored == args.payments
    print("every booking confirmed exactly once" if ok else "MISMATCH")
    harness.record(
        "webhooks",
        {
            "goals": [
                harness.goal(
                    "Stripe webhook deliveries / pgbench forupdate",
                    rate,
                    baseline and baseline.get("tps"),
                    None,
                    unit="deliveries/s",
                    p99_ms=pct(99),
                )
            ],
            "confirmed_exactly_once": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
