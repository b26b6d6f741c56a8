"""A flash sale over HTTP: thousands of buyers at one session, through the checkout
pages and the partner API at once, with every limit on.

    .venv/bin/python bench/flash_sale.py            # 5,000 buyers, 1,000 seats
    .venv/bin/python bench/flash_sale.py --short    # 1,000 buyers, 200 seats (< 60 s)

One published event, one session of --seats seats and one paid ticket type, in its
own database (FLASH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
bench_flash, created and migrated on first use; a new organiser and event per
run) and Redis (BENCH_REDIS_URL, default db 1,
with a key prefix of its own per run). gunicorn on loopback (--workers gthread
workers of --threads threads, DEBUG=0) with TRUSTED_PROXIES=127.0.0.1: each buyer sends
its own X-Forwarded-For address, so the per-address checkout limits count every
buyer apart, as behind a proxy in production. No limit is lifted.

Buyers arrive --connections at a time (asyncio + aiohttp). Half of them (odd
numbers) buy through the API (POST /api/v1/bookings/, one key shared by the
partner), the others through the pages (GET the checkout form, then POST it). A
buyer told "busy" (503 with Retry-After) waits as told and sends the same request
again, up to --attempts times in all. Printed: seats sold (from the database:
must equal the seats), answers by kind, latency percentiles of every answered
request, and the check: 0 other 5xx, 0 503 without Retry-After, 0 resets or timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import holds as hold_bench  # noqa: E402  (its fixtures)

P99_TARGET_MS = 2000
_CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")
_SESSION_COOKIE = re.compile(r"sessionid=([^;]+)")
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')
# What the checkout page says, with its 409, when the seats are gone
# (bookings/exceptions.py's SoldOut); the API says `"code": "sold_out"`.
_PAGE_SOLD_OUT_TEXT = "Not enough seats left"


def _fixtures(seats: int) -> dict:
    """One published event of one session of `seats` seats (bench/holds.py's), its
    paid ticket type, and a partner API key with the right to sell."""
    from events.models import Session
    from partner_api.api_keys import ApiKey

    (session_id,), ticket_type_id = hold_bench._fixtures(1, seats)
    session = Session.objects.select_related("event__organiser").get(pk=session_id)
    key, plain = ApiKey.generate(
        organiser=session.event.organiser, name="reseller", scopes=["write"]
    )
    key.save()
    return {
        "session_id": session_id,
        "ticket_type_id": ticket_type_id,
        "slug": session.event.slug,
        "api_key": plain,
    }


def _address(buyer: int) -> str:
    return f"10.{buyer // 65536 % 256}.{buyer // 256 % 256}.{buyer % 256}"


class Sale:
    """The crowd: counts every answer and times every answered request."""

    def __init__(self, base: str, fixtures: dict, attempts: int) -> None:
        self.base, self.fixtures, self.attempts = base, fixtures, attempts
        # Buyers of earlier runs in the same database keep their holds for 15
        # minutes: each run's buyers have emails and keys of their own.
        self.run_id = fixtures["slug"].rsplit("-", 1)[-1]
        self.answers: Counter = Counter()
        self.latencies_ms: list[float] = []
        self.failures: Counter = Counter()  # resets, timeouts: must stay 0
        self.samples: dict[str, str] = {}
        self.busy_ms: list[float] = []

    async def _request(self, http, method: str, path: str, **kwargs):
        started = time.perf_counter()
        try:
            async with http.request(
                method, self.base + path, allow_redirects=False, **kwargs
            ) as response:
                body = await response.text()
        except TimeoutError:
            self.failures["timeout"] += 1
            return None, "", {}
        except Exception as error:  # aiohttp's reset, refused, disconnected
            self.failures[type(error).__name__] += 1
            return None, "", {}
        self.latencies_ms.append(1000 * (time.perf_counter() - started))
        if response.status == 503:  # shed at once, or after the lock timeout?
            self.busy_ms.append(self.latencies_ms[-1])
        return response.status, body, response.headers

    def _count(self, kind: str, status: int, body: str, headers) -> str:
        if status == 503:
            has_wait = bool(headers.get("Retry-After"))
            outcome = "busy" if has_wait else "503 WITHOUT Retry-After"
        elif status in (201, 302):
            outcome = "sold"
        elif status == 409 and ('"sold_out"' in body or _PAGE_SOLD_OUT_TEXT in body):
            outcome = "sold_out"
        elif status == 429:
            outcome = "limited"
        else:
            outcome = f"other {status}"
            summary = body.find('class="error-summary__list"')
            sample = body[summary : summary + 600] if summary >= 0 else body[:300]
            self.samples.setdefault(f"{kind} {status}", sample)
        self.answers[f"{kind} {status} {outcome}"] += 1
        return outcome

    def _email(self, buyer: int) -> str:
        return f"b{buyer}-{self.run_id}@example.org"

    async def _retry_wait(self, headers) -> None:
        await asyncio.sleep(min(10, int(headers.get("Retry-After", "1"))))

    async def api_buyer(self, http, buyer: int) -> str:
        body = {
            "session": self.fixtures["session_id"],
            "lines": [{"ticket_type": self.fixtures["ticket_type_id"], "quantity": 1}],
            "buyer": {"name": f"Buyer {buyer}", "email": self._email(buyer)},
            "attendees": [{"name": f"Guest {buyer}"}],
        }
        headers = {
            "Authorization": f"Bearer {self.fixtures['api_key']}",
            "Idempotency-Key": f"flash-{self.run_id}-{buyer}",
            "X-Forwarded-For": _address(buyer),
        }
        for _attempt in range(self.attempts):
            status, text, answer_headers = await self._request(
                http, "POST", "/api/v1/bookings/", json=body, headers=headers
            )
            if status is None:
                return "failed"
            outcome = self._count("api", status, text, answer_headers)
            if outcome != "busy":
                return outcome
            await self._retry_wait(answer_headers)
        return "gave up busy"

    async def page_buyer(self, http, buyer: int) -> str:
        """GET the form once, POST it; told busy, send the same form again (the
        busy page keeps it filled in), as a buyer would."""
        path = f"/e/{self.fixtures['slug']}/checkout/"
        forwarded = {"X-Forwarded-For": _address(buyer)}
        status, text, headers = await self._request(
            http,
            "GET",
            f"{path}?session={self.fixtures['session_id']}",
            headers=forwarded,
        )
        if status is None:
            return "failed"
        if status != 200:
            return self._count("page-get", status, text, headers)
        self.answers["page-get 200"] += 1
        cookies = "; ".join(
            f"{name}={found.group(1)}"
            for name, pattern in (
                ("csrftoken", _CSRF_COOKIE),
                ("sessionid", _SESSION_COOKIE),
            )
            for value in headers.getall("Set-Cookie", [])
            if (found := pattern.search(value))
        )
        csrf, token = _CSRF_FIELD.search(text), _TOKEN_FIELD.search(text)
        if not csrf or not token:  # the form offers no session: sold out
            self.answers["page-get 200 sold_out (no date on offer)"] += 1
            return "sold_out"
        form = {
            "csrfmiddlewaretoken": csrf.group(1),
            "token": token.group(1),
            "session": str(self.fixtures["session_id"]),
            f"qty_{self.fixtures['ticket_type_id']}": "1",
            "buyer_name": f"Buyer {buyer}",
            "buyer_email": self._email(buyer),
            "attendee_name_0": f"Guest {buyer}",
            "action": "book",
        }
        for _attempt in range(self.attempts):
            status, text, headers = await self._request(
                http, "POST", path, data=form, headers=forwarded | {"Cookie": cookies}
            )
            if status is None:
                return "failed"
            outcome = self._count("page", status, text, headers)
            if outcome != "busy":
                return outcome
            await self._retry_wait(headers)
        return "gave up busy"

    async def run(self, buyers: int, connections: int) -> Counter:
        import aiohttp

        queue: asyncio.Queue[int] = asyncio.Queue()
        for buyer in range(buyers):
            queue.put_nowait(buyer)
        finals: Counter = Counter()

        async def lane(http):
            while not queue.empty():
                buyer = queue.get_nowait()
                buy = self.api_buyer if buyer % 2 else self.page_buyer
                finals[await buy(http, buyer)] += 1

        timeout = aiohttp.ClientTimeout(total=30)
        # A new connection per request, as every buyer is a client of their own.
        connector = aiohttp.TCPConnector(limit=connections, force_close=True)
        async with aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
        ) as http:
            await asyncio.gather(*(lane(http) for _ in range(connections)))
        return finals


def _sold(session_id: int) -> dict:
    from django.db import connection
    from django.db.models import Sum

    from bookings.models import Booking
    from events.models import Session

    bookings = Booking.objects.filter(session_id=session_id).exclude(
        status__in=[Booking.Status.CANCELLED, Booking.Status.EXPIRED]
    )
    by_channel = dict(
        bookings.values_list("channel").annotate(seats=Sum("quantity")).order_by()
    )
    seats = sum(by_channel.values())
    capacity = Session.objects.get(pk=session_id).capacity
    connection.close()
    return {"seats": seats, "by_channel": by_channel, "capacity": capacity}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument(
        "--short", action="store_true", help="1,000 buyers for 200 seats"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if args.short:
        args.buyers, args.seats = 1000, 200

    url = harness.database_url("bench_flash", "FLASH_DATABASE_URL")
    harness.migrated_database(url)
    fixtures = _fixtures(args.seats)
    from django.db import connection

    connection.close()
    env = harness.server_env(
        url,
        harness.static_root(),
        TRUSTED_PROXIES="127.0.0.1",
        CACHE_KEY_PREFIX=f"flash-{time.time_ns()}",
    )
    harness.collectstatic(env)
    with harness.gunicorn(
        env, f"/e/{fixtures['slug']}/", workers=args.workers, threads=args.threads
    ) as served:
        sale = Sale(served.base, fixtures, args.attempts)
        cpu_before = harness.cpu_snapshot()
        started = time.monotonic()
        finals = asyncio.run(sale.run(args.buyers, args.connections))
        elapsed = time.monotonic() - started
        cpu = harness.cpu_since(cpu_before)
    server_log = served.log_text()

    # The machine's speed right after: the bare Django sale at the same connections.
    baseline = (
        None if args.skip_baseline else harness.django_baseline(10, args.connections)
    )
    hot = baseline and baseline.get("buy-hot")
    sold = _sold(fixtures["session_id"])
    answered = len(sale.latencies_ms)
    latency = harness.percentiles(sale.latencies_ms)
    other_5xx = sum(
        count
        for answer, count in sale.answers.items()
        if " 5" in answer and not answer.endswith(" busy")
    )
    failures = sum(sale.failures.values())
    figures = {
        "buyers": args.buyers,
        "seats": args.seats,
        "connections": args.connections,
        "gunicorn": f"{args.workers} gthread workers x {args.threads} threads",
        "elapsed_s": round(elapsed, 1),
        "sold": sold,
        "buyers_by_outcome": dict(finals),
        "answers": dict(sale.answers),
        "failures": dict(sale.failures),
        "answered_requests": answered,
        "busy_latency_ms": harness.percentiles(sale.busy_ms),
        "requests_per_s": round(answered / elapsed, 1),
        "latency_ms": {k: round(v, 1) for k, v in latency.items() if v is not None},
        "other_5xx": other_5xx,
        "tracebacks": server_log.count("Traceback"),
        "cpu": cpu,
        "baseline_buy_hot": hot and {k: hot[k] for k in ("rps", "p50_ms", "p99_ms")},
    }
    checks = {
        "sold exactly the seats": sold["seats"] == args.seats,
        "no other 5xx (503 busy carries Retry-After)": other_5xx == 0,
        "no reset or timeout": failures == 0,
        f"p99 under {P99_TARGET_MS} ms": (latency["p99"] or 0) < P99_TARGET_MS,
        "no traceback": figures["tracebacks"] == 0,
    }
    figures["checks"] = checks
    figures["goals"] = [
        harness.goal(
            "flash sale, answered req/s / bare Django buy-hot",
            figures["requests_per_s"],
            hot and hot["rps"],
            None,
            unit="req/s",
            baseline_p99_ms=hot and hot["p99_ms"],
        ),
        harness.goal(
            f"flash sale, {args.buyers} buyers: p99 ms / 2,000 ms",
            latency["p99"],
            P99_TARGET_MS,
            1.0,
            unit="ms",
            lower_is_better=True,
            sold=sold["seats"],
            seats=args.seats,
            all_checks_passed=all(checks.values()),
        ),
    ]
    print(
        f"flash sale: {args.buyers} buyers, {args.seats} seats, {args.connections} "
        f"connections, gunicorn {figures['gunicorn']}, {elapsed:.1f} s"
    )
    print(f"seats sold: {sold['seats']} of {sold['capacity']} {sold['by_channel']}")
    print(f"buyers by outcome: {dict(finals)}")
    for answer, count in sorted(sale.answers.items()):
        print(f"  {answer}: {count}")
    print(f"resets/timeouts: {dict(sale.failures) or 0}")
    if sale.busy_ms:
        busy = harness.percentiles(sale.busy_ms)
        print(
            "503 busy answered in ms (shed at once vs after the lock timeout, "
            f"INVENTORY_LOCK_TIMEOUT_MS): p50 {busy['p50']:.0f}, p90 "
            f"{busy['p90']:.0f}, p99 {busy['p99']:.0f}"
        )
    print(
        f"answered requests: {answered} ({figures['requests_per_s']}/s), latency ms "
        + ", ".join(f"{k} {v:.0f}" for k, v in latency.items() if v is not None)
    )
    print(f"CPU: {cpu}")
    if hot:
        print(
            f"baseline, bare Django buy-hot at {args.connections} connections right "
            f"after: {hot['rps']:.1f} req/s, p50 {hot['p50_ms']} ms, p99 "
            f"{hot['p99_ms']} ms; answered req/s ratio "
            f"{figures['requests_per_s'] / hot['rps']:.2f}"
        )
    for label, sample in sale.samples.items():
        print(f"sample of {label}: {sample!r}")
    for label, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {label}")
    harness.record("flash_sale", figures | {"short": args.short})
    print(json.dumps(figures, default=str))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
