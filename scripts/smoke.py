"""`make smoke`: start what users start, the way they start it, and sell through it.

1. A deployment built from `requirements.txt` alone in a fresh virtualenv: migrate,
   collectstatic, then gunicorn, a Celery worker and Celery beat (DEBUG off, Redis
   broker, nothing eager) on the test PostgreSQL and Redis. A free ticket is booked
   over HTTP, and the worker must deliver its confirmation email with a PDF attached.
   Before any of it, `pip check` must pass there and the worker's broker transport
   must import (kombu's Redis transport once needed `packaging`, which only the dev
   requirements brought).
2. `make run` on a free port with no DATABASE_URL (its embedded PostgreSQL): a free
   booking and an offline-payment booking through the HTML pages, the second marked
   paid in the admin, both checked in at /checkin/. Then Ctrl-C (SIGINT) must stop it
   and the embedded PostgreSQL it started.

Everything started here is stopped by process id, whatever happens. Any 5xx answer, a
traceback in a server's log, or a missing step fails the run with the reason.
Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smoke_http import Browser, SmokeFailure  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("PYTHON", sys.executable)
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DEMO_PGDATA = BASE_DIR / ".demo" / "postgres"


def say(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_database_running() -> bool:
    """Whether the demo's embedded PostgreSQL runs: its postmaster.pid names a live
    process (scripts/demo_postgres.running_port, without its imports)."""
    try:
        pid = int((DEMO_PGDATA / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by the server's own user
    return True


def demo_database_stop() -> None:
    subprocess.run(
        [str(BASE_DIR / ".venv" / "bin" / "python"),
         str(BASE_DIR / "scripts" / "demo.py"), "stop"],
        check=False,
    )


class Processes:
    """Everything this run started, each in its own process group, stopped by id."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.stopped: set[str] = set()  # stopped on purpose: no longer checked
        # A demo someone left running is theirs: `make run` reuses it, and neither it
        # nor this run may stop it.
        self.demo_database_before = demo_database_running()

    def start(self, name: str, command: list[str], env: dict, cwd=BASE_DIR):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the run
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.started.append((name, process))
        say(f"started {name} (pid {process.pid})")
        return process

    def log_of(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def running(self):
        return [(n, p) for n, p in self.started if n not in self.stopped]

    def check_alive(self) -> None:
        for name, process in self.running():
            if process.poll() is not None:
                raise SmokeFailure(f"{name} exited with {process.returncode}:\n"
                                   + self.log_of(name)[-3000:])

    def stop(self, name: str, sig=signal.SIGTERM, wait: float = 30,
             group=False) -> None:
        """Stop `name` by its process id: gunicorn and Celery stop their own children
        (a signal to the whole group would kill a worker's pool under it); `group`
        for `make run`, whose make, script and server all take the signal."""
        self.stopped.add(name)
        for label, process in self.started:
            if label != name or process.poll() is not None:
                continue
            if group:
                os.killpg(process.pid, sig)
            else:
                os.kill(process.pid, sig)
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
            say(f"stopped {name} (exit {process.returncode})")

    def stop_all(self) -> None:
        for name, _process in reversed(self.started):
            self.stop(name, sig=signal.SIGINT if name == "make-run" else signal.SIGTERM,
                      group=name == "make-run")
        for _name, process in self.started:  # children left in their groups
            try:
                os.killpg(process.pid, 9)
            except ProcessLookupError:
                pass
        # The demo's PostgreSQL runs in a session of its own (pg_ctl starts it so):
        # stop it too if `make run` started it and could not.
        if self.demo_database_left_running():
            demo_database_stop()

    def demo_database_left_running(self) -> bool:
        return demo_database_running() and not self.demo_database_before

    def assert_no_server_errors(self) -> None:
        for name, _process in self.running():
            text = self.log_of(name)
            error = re.search(r"Traceback \(most recent call last\)|\" 5\d\d \d+", text)
            if error:
                # The error itself, not the log's tail: later lines can bury it.
                start = text.rfind("\n", 0, max(error.start() - 600, 0)) + 1
                excerpt = text[start : error.start() + 3000]
                raise SmokeFailure(f"{name}'s log has a server error:\n{excerpt}")


def wait_for(predicate, what: str, seconds: float, processes: Processes):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        if result := predicate():
            return result
        time.sleep(0.5)
    raise SmokeFailure(f"Timed out after {seconds:.0f} s waiting for {what}")


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


# The buyer's way through the pages ---------------------------------------------------


def book_on_pages(browser: Browser, event: str, city: str, ticket: str, email: str,
                  name: str = "Smoke Buyer") -> str:
    """Checkout through the HTML forms; returns the booking page's URL."""
    browser.get(f"/e/{event}/checkout/")
    form = browser.form(lambda f: "token" in f.fields)
    fields = dict(form.fields)
    fields["session"] = form.option("session", city)
    fields[form.name_labelled(ticket)] = "1"
    fields.update(buyer_name=name, buyer_email=email, action="update")
    browser.post(f"/e/{event}/checkout/", fields)
    form = browser.form(lambda f: "token" in f.fields)
    fields = dict(form.fields)
    for key in fields:
        if key.startswith("attendee_name_"):
            fields[key] = name
        elif key.startswith("attendee_email_"):
            fields[key] = email
    fields.update(buyer_name=name, buyer_email=email, action="book")
    browser.post(f"/e/{event}/checkout/", fields)
    if "/b/" not in browser.url:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", browser.html))
        raise SmokeFailure(
            f"Checkout did not reach a booking page: {browser.url}\n{text[:800]}"
        )
    return browser.url


def reference_of(url: str) -> str:
    return re.search(r"/b/([A-Z0-9-]+)/", url).group(1)


# 1. The deployment ---------------------------------------------------------------


def runtime_checks(venv: Path) -> None:
    """The requirements agree with each other, and the worker's broker transport
    imports from them alone: a module only the dev requirements bring in fails here,
    not in production's first task."""
    python = str(venv / "bin/python")
    for what, command in (
        ("pip check", [python, "-m", "pip", "check", "--disable-pip-version-check"]),
        ("import kombu.transport.redis, celery, redis",
         [python, "-c", "import kombu.transport.redis, celery, redis"]),
    ):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise SmokeFailure(
                f"`{what}` failed in the virtualenv built from requirements.txt "
                f"alone (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
    say("pip check passed; kombu's Redis transport and Celery import")


def deployment(work: Path, processes: Processes) -> None:
    venv = work / "venv"
    say("building a virtualenv from requirements.txt alone")
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", str(BASE_DIR / "requirements.txt")],
        capture_output=True, text=True,
    )
    if installed.returncode:
        raise SmokeFailure(f"pip install -r requirements.txt:\n{installed.stderr}")
    runtime_checks(venv)
    database = DATABASE_URL.rsplit("/", 1)[0] + "/smoke_deploy"
    subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import psycopg,sys; c=psycopg.connect(sys.argv[1], autocommit=True);"
         "c.execute('DROP DATABASE IF EXISTS smoke_deploy WITH (FORCE)');"
         "c.execute('CREATE DATABASE smoke_deploy')", DATABASE_URL],
        check=True,
    )
    port = free_port()
    mail = work / "mail"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "DEBUG": "0",
        "SECRET_KEY": "smoke-test-secret-key-not-for-production-use-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/9",
        "CACHE_KEY_PREFIX": f"smoke-{os.getpid()}",
        # Plain HTTP on loopback: cookies may not be Secure-only here.
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail),
        "STATIC_ROOT": str(work / "static"),
        "MEDIA_ROOT": str(work / "media"),
    }
    python = str(venv / "bin/python")
    # A fresh deployment has a fresh broker too: messages an earlier run left in this
    # Redis database name rows of the database just recreated above.
    subprocess.run([python, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1])"
                    ".flushdb()", env["REDIS_URL"]], check=True)
    for command in (["migrate", "--noinput", "-v", "0"],
                    ["collectstatic", "--noinput", "-v", "0"],
                    ["seed_demo", "--no-input"]):
        subprocess.run([python, "manage.py", *command], cwd=BASE_DIR, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    processes.start("gunicorn", [str(venv / "bin/gunicorn"), "ticketing.wsgi",
                                 "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                 "--access-logfile", "-"], env)
    processes.start("worker", [str(venv / "bin/celery"), "-A", "ticketing", "worker",
                               "--loglevel=INFO", "--concurrency=2"], env)
    processes.start("beat", [str(venv / "bin/celery"), "-A", "ticketing", "beat",
                             "--loglevel=INFO", "--schedule", str(work / "beat")], env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/healthz"), "gunicorn", 60, processes)
    wait_for(lambda: "ready" in processes.log_of("worker"), "the worker", 60, processes)
    browser = Browser(base, log=say)
    email = f"deploy-{os.getpid()}@example.com"
    url = book_on_pages(browser, "masterclass", "Paris", "Open rehearsal", email)
    say(f"booked a free ticket: {reference_of(url)}")
    if "Confirmed" not in browser.html and "confirmed" not in browser.html:
        raise SmokeFailure("The free booking's page does not say it is confirmed")

    def delivered():
        for path in mail.glob("*.log") if mail.exists() else []:
            text = path.read_text(errors="replace")
            if email in text and "application/pdf" in text:
                return path
        return None

    path = wait_for(delivered, "the worker's confirmation email with a PDF", 120,
                    processes)
    say(f"the worker delivered the confirmation with its PDF ({path.name})")
    wait_for(lambda: "Scheduler: Sending due task" in processes.log_of("beat")
             or "beat: Starting" in processes.log_of("beat"), "beat", 60, processes)
    processes.assert_no_server_errors()
    for name in ("beat", "worker", "gunicorn"):
        processes.stop(name)


# 2. The demo ---------------------------------------------------------------------


def demo(work: Path, processes: Processes) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    # `make run` as printed in the README, on a free port, with no DATABASE_URL.
    demo_process = processes.start("make-run", ["make", "run", f"PORT={port}"], env)
    wait_for(lambda: "Serving on" in processes.log_of("make-run"), "make run", 600,
             processes)
    banner = processes.log_of("make-run")
    if "embedded PostgreSQL" not in banner:
        raise SmokeFailure("make run did not use its embedded PostgreSQL")
    base = f"http://127.0.0.1:{port}"
    browser = Browser(base, log=say)
    free = book_on_pages(browser, "masterclass", "Paris", "Open rehearsal",
                         "demo-free@example.com")
    say(f"booked a free ticket in the demo: {reference_of(free)}")
    offline = book_on_pages(browser, "masterclass", "Lyon", "Regular",
                            "demo-offline@example.com")
    offline_ref = reference_of(offline)
    pay_offline(browser, offline_ref)
    staff = Browser(base, log=say)
    staff.login_admin("admin", "admin")
    mark_paid(staff, offline_ref, browser)
    door = Browser(base, log=say)
    door.login_admin("paris-door", "door-demo-2026")
    for reference in (reference_of(free), offline_ref):
        check_in(browser, door, reference)
    processes.assert_no_server_errors()
    # Ctrl-C, as a user stops it: the terminal sends SIGINT to the whole foreground
    # group (make, scripts/demo.py, runserver). make dies of it (-2) once demo.py is
    # done, or exits 0 when it was started with SIGINT ignored.
    processes.stop("make-run", sig=signal.SIGINT, wait=60, group=True)
    if demo_process.returncode not in (0, -signal.SIGINT):
        raise SmokeFailure(f"make run exited with {demo_process.returncode} on "
                           "Ctrl-C:\n" + processes.log_of("make-run")[-3000:])
    if processes.demo_database_left_running():
        demo_database_stop()
        raise SmokeFailure("Ctrl-C stopped make run but left its embedded PostgreSQL "
                           "running (stopped now by the smoke)")
    say("Ctrl-C stopped make run and its embedded PostgreSQL")


def pay_offline(browser: Browser, reference: str) -> None:
    browser.get(f"/b/{reference}/")
    form = browser.form(lambda f: f.attrs.get("action", "").endswith("/pay/offline/"))
    browser.post(form.attrs["action"], dict(form.fields))
    if 'data-testid="offline-instructions"' not in browser.html:
        raise SmokeFailure("The bank transfer instructions are not shown")
    if reference not in browser.html:
        raise SmokeFailure("The bank transfer instructions miss the reference")
    say(f"chose bank transfer for {reference}: instructions shown")


def mark_paid(staff: Browser, reference: str, buyer: Browser) -> None:
    """The organiser's "Mark paid (offline)" action on the booking's payment."""
    staff.get(f"/admin/payments/payment/?q={reference}")
    form = staff.form(lambda f: "action" in f.selects)
    ids = re.findall(r'name="_selected_action" value="(\d+)"', staff.html)
    if len(ids) != 1:
        raise SmokeFailure(f"Expected one payment for {reference} in admin: {ids}")
    fields = {**form.fields, "action": "mark_paid_offline", "_selected_action": ids}
    staff.post("/admin/payments/payment/", fields)
    buyer.get(f"/b/{reference}/")
    if 'data-state="confirmed"' not in buyer.html:
        raise SmokeFailure(f"{reference} is not confirmed after 'mark paid'")
    say(f"marked {reference} paid in admin: confirmed")


def check_in(buyer: Browser, door: Browser, reference: str) -> None:
    buyer.get(f"/b/{reference}/")
    codes = re.findall(r'data-testid="ticket-code">([A-Z0-9-]+)<', buyer.html)
    if not codes:
        raise SmokeFailure(f"No ticket code on the booking page of {reference}")
    door.get("/checkin/")
    if 'data-testid="chosen-sessions"' not in door.html:
        # The door asks which sessions it checks in first: all of those offered.
        choose = door.form(lambda f: f.attrs.get("action", "").endswith("/sessions/"))
        offered = re.findall(r'name="sessions" value="(\d+)"', door.html)
        if not offered:
            raise SmokeFailure("The door page offers no session to check in")
        door.post(choose.attrs["action"], {**choose.fields, "sessions": offered})
        say(f"chose {len(offered)} session(s) at the door")
    form = door.form(lambda f: "token" in f.fields)
    door.post("/checkin/", {**form.fields, "token": codes[0]})
    if "checkin-result--ok" not in door.html:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", door.html))
        raise SmokeFailure(f"Check-in of {codes[0]} refused: {text[:600]}")
    say(f"checked in {codes[0]} of {reference}")


def main() -> int:
    parts = sys.argv[1:] or ["deployment", "demo"]
    if unknown := set(parts) - {"deployment", "demo"}:
        print(f"usage: smoke.py [deployment] [demo]\n\n{__doc__}", file=sys.stderr)
        return 0 if unknown <= {"-h", "--help"} else 2
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ticketing-smoke-"))
    logs = work / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        if "deployment" in parts:
            deployment(work, processes)
        if "demo" in parts:
            demo(work, processes)
    except (SmokeFailure, subprocess.CalledProcessError) as failure:
        for name, _process in processes.started:
            print(f"----- {name} (last lines) -----\n{processes.log_of(name)[-2500:]}")
        processes.stop_all()
        # Last, so that a log showing only the end of this run shows why it failed.
        say(f"FAILED: {failure}")
        return 1
    finally:
        processes.stop_all()
    shutil.rmtree(work, ignore_errors=True)
    say(f"passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
