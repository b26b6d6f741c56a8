"""CPU per request of the partner API, in-process, with the profile that explains it.

    BENCH_DATABASE_URL=... BENCH_REDIS_URL=... \
    .venv/bin/python bench/api_profile.py [--requests 300] [--top 30] [--only post|get]

No gunicorn, no wrk: the WSGI application is called directly with the environ that
gunicorn would hand it (the same settings as bench/api.py's server: DEBUG=0, eager
Celery, the per-key throttle lifted but still counting in Redis, shedding off), on
bench/api.py's fixtures (one hot session, one ticket type, a read+write key). For
`GET /api/v1/sessions/<id>/availability/` and `POST /api/v1/bookings/` it prints the
process CPU time per request (time.process_time: this process only, so PostgreSQL's
and Redis's own CPU is not in it) in --repeats batches of --requests requests after
a warm-up (the best and the median batch), then the top functions of a cProfile run
over --requests requests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from api import API_RATE, _booking_body  # noqa: E402
from api import _fixtures as _api_fixtures  # noqa: E402
from holds import DATABASE_URL  # noqa: E402
from pages import server_env  # noqa: E402


def _environ(method: str, path: str, key: str, body: bytes = b"") -> dict:
    """What gunicorn passes the WSGI application for one request."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _caller(application, fixtures: dict, kind: str):
    """A function that sends one request of `kind` and checks its status."""
    key = fixtures["api_key"]
    counter = iter(range(10**9))

    def call() -> None:
        statuses = []
        if kind == "get":
            path = f"/api/v1/sessions/{fixtures['session_id']}/availability/"
            environ, expected = _environ("GET", path, key), "200"
        else:
            email = f"profile-{time.time_ns()}-{next(counter)}@example.org"
            body = json.dumps(_booking_body(fixtures, email)).encode()
            environ = _environ("POST", "/api/v1/bookings/", key, body)
            expected = "201"
        chunks = application(environ, lambda status, headers: statuses.append(status))
        answer = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        if not statuses[0].startswith(expected):
            raise SystemExit(f"{kind} answered {statuses[0]}: {answer[:500]!r}")

    return call


def _cpu_ms(call, requests: int, repeats: int) -> list[float]:
    """CPU ms per request of `repeats` batches of `requests`, sorted: on a shared
    machine the smallest is the least disturbed by the neighbours."""
    for _ in range(20):  # warm-up: imports, caches, the key's last_used_at
        call()
    batches = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(requests):
            call()
        batches.append((time.process_time() - start) * 1000 / requests)
    return sorted(batches)


def _profile(call, requests: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # Python function calls per request: unlike CPU time, not swayed by neighbours.
    out.write(f"function calls per request: {stats.total_calls / requests:.0f}\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--only", choices=("get", "post"))
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    env = server_env(API_RATE_PER_KEY=API_RATE)
    for name in ("DEBUG", "CELERY_TASK_ALWAYS_EAGER", "LOG_LEVEL", "STATIC_ROOT"):
        os.environ[name] = env[name]
    for name, value in env.items():
        if name.startswith(("CHECKOUT_", "SALE_", "API_RATE")):
            os.environ[name] = value
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    harness.migrated_database(DATABASE_URL)
    from django.core.wsgi import get_wsgi_application

    fixtures = _api_fixtures()
    application = get_wsgi_application()
    kinds = [args.only] if args.only else ["get", "post"]
    results = {}
    for kind in kinds:
        call = _caller(application, fixtures, kind)
        batches = _cpu_ms(call, args.requests, args.repeats)
        results[kind] = batches
        print(
            f"{kind}: {batches[0]:.3f} ms of CPU per request at best, "
            f"{batches[len(batches) // 2]:.3f} median ({args.repeats} batches of "
            f"{args.requests} requests)",
            flush=True,
        )
        if not args.no_profile:
            print(_profile(call, args.requests, args.top))
    print(
        json.dumps({"cpu_ms_per_request_batches": results, "requests": args.requests})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
