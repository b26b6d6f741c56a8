"""`make run` and `make manage`: the demo on an embedded PostgreSQL, or on yours.

    python scripts/demo.py run [--port 8000]     migrate, seed, serve until Ctrl-C
    python scripts/demo.py manage [--port 8000] ARGS...
                                                 one management command, same database
    python scripts/demo.py stop                  stop the embedded server if it runs

With DATABASE_URL in the environment (or in `.env`) the demo uses that database;
otherwise it starts the embedded server under `.demo/` (kept between runs) and stops it
again on the way out. Tasks run in-process, email is printed, SITE_URL is the local
address: what a first look needs, nothing to install but the Python packages.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".demo"
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]

with warnings.catch_warnings():
    # The wheel asks for a runtime directory at import; this script does not use it.
    warnings.simplefilter("ignore")
    import demo_postgres


def _users_database_url() -> str | None:
    if url := os.environ.get("DATABASE_URL"):
        return url
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():
        for line in dotenv.read_text().splitlines():
            name, _, value = line.strip().partition("=")
            if name == "DATABASE_URL" and value:
                return value.strip("'\"")
    return None


class Database:
    """The user's database, or the embedded one (stopped on exit if started here)."""

    def __init__(self) -> None:
        self.server = None
        self.started = False
        self.url = _users_database_url()
        if self.url is None:
            pgdata = DATA_DIR / "postgres"
            running_before = demo_postgres.running_port(pgdata) is not None
            try:
                self.server, self.started = demo_postgres.start(DATA_DIR)
            except BaseException:
                # Ctrl-C in the middle of starting: stop what this call started.
                if not running_before and (port := demo_postgres.running_port(pgdata)):
                    demo_postgres.stop(demo_postgres.Server(pgdata, port))
                raise
            self.url = self.server.url

    def close(self) -> None:
        if self.started:
            demo_postgres.stop(self.server)
            self.started = False


def _environment(database_url: str, site_url: str) -> dict[str, str]:
    environment = dict(os.environ)
    # The demo's own defaults: no broker or cache server to run, mail on the console.
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        environment.pop(name, None)
    environment.update(
        DATABASE_URL=database_url,
        DEBUG="1",
        SITE_URL=site_url,
        CELERY_TASK_ALWAYS_EAGER="1",
        PYTHONUNBUFFERED="1",
    )
    return environment


def _wait_until_serving(url: str, server: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def run(port: int) -> int:
    started = time.monotonic()
    site_url = f"http://127.0.0.1:{port}"
    database = None
    server = None

    def stop(signum, _frame):
        # Once: a second Ctrl-C must not cut the way out short and leave the
        # embedded PostgreSQL running (its fast shutdown takes about a second).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    # Both, explicitly: a shell that starts `make run` in the background leaves
    # SIGINT ignored, and then Python would never raise KeyboardInterrupt.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        database = Database()
        environment = _environment(database.url, site_url)
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"],
                       env=environment, check=True)
        seeded = subprocess.run(
            [*MANAGE, "seed_demo"], env=environment, check=True,
            capture_output=True, text=True,
        )
        server = subprocess.Popen(
            [*MANAGE, "runserver", "--noreload", f"127.0.0.1:{port}"], env=environment
        )
        if not _wait_until_serving(f"{site_url}/healthz", server, 60):
            print(f"The server did not answer on {site_url}.", file=sys.stderr)
            return 1
        # The seed's own summary, without the emails its bookings printed on the way.
        summary = seeded.stdout[seeded.stdout.rfind("Demo data ready"):]
        print()
        print(summary.rstrip())
        where = "embedded PostgreSQL" if database.server else "your DATABASE_URL"
        print(f"\nServing on {site_url} with {where} "
              f"({time.monotonic() - started:.1f} s to start). Ctrl-C stops it.")
        return server.wait()
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as error:
        if error.stderr:
            print(error.stderr, file=sys.stderr)
        return error.returncode or 1
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if database is not None:
            database.close()


def manage(arguments: list[str], port: int) -> int:
    database = Database()
    try:
        environment = _environment(database.url, os.environ.get(
            "SITE_URL", f"http://127.0.0.1:{port}"))
        return subprocess.run([*MANAGE, *arguments], env=environment).returncode
    finally:
        database.close()


def stop_embedded() -> int:
    port = demo_postgres.running_port(DATA_DIR / "postgres")
    if port:
        demo_postgres.stop(demo_postgres.Server(DATA_DIR / "postgres", port))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--port", type=int, default=8000)
    manage_parser = commands.add_parser("manage")
    manage_parser.add_argument(
        "--port", type=int, default=8000, help="SITE_URL's port"
    )
    manage_parser.add_argument("arguments", nargs=argparse.REMAINDER)
    commands.add_parser("stop")
    options = parser.parse_args()
    if options.command == "run":
        return run(options.port)
    if options.command == "manage":
        return manage(options.arguments, options.port)
    return stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
