"""What the bench scripts share: the bench database, gunicorn started as production
starts it, wrk (or, without it, the caller's own load), the baselines of
../shared/bench, percentiles and the JSON results of `make bench`.

Import it before Django is set up: CLEAN_ENV is the environment as started, which
the baseline's throwaway project and gunicorn must see without our Django variables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HTTP = BENCH / "http"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
# ../shared/bench beside the checkout; a git worktree sits one level deeper.
SHARED = Path(
    os.environ.get("BENCH_SHARED")
    or next(
        (
            str(up / "shared" / "bench")
            for up in ROOT.parents
            if (up / "shared" / "bench").is_dir()
        ),
        str(ROOT.parent / "shared" / "bench"),
    )
)
DJANGO_BASELINE = SHARED / "django_baseline" / "django_baseline.sh"
PGBENCH = SHARED / "pg" / "run_pgbench.py"
CLEAN_ENV = dict(os.environ)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"


def database_url(
    default_name: str = "bench_holds", variable: str = "BENCH_DATABASE_URL"
) -> str:
    """The bench database: `variable` from the environment, else `default_name` on
    the local PostgreSQL."""
    return os.environ.get(
        variable, f"postgres://postgres@127.0.0.1:5432/{default_name}"
    )


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)


# --- Database and Django -----------------------------------------------------------


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the database `url` names if it does not exist (dropped first if
    `fresh`)."""
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(
        admin_url.replace("postgres://", "postgresql://", 1), autocommit=True
    ) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    """Django in this process, on the bench database and Redis."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_URL", redis_url())
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SITE_URL", "http://localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrated_database(url: str, *, fresh: bool = False) -> None:
    """ensure_database, django_setup and migrate, the start of every script."""
    ensure_database(url, fresh=fresh)
    django_setup(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- gunicorn ---------------------------------------------------------------------


def server_env(url: str, static_root: str, **overrides: str) -> dict:
    """The environment gunicorn runs with: DEBUG=0, eager Celery, quiet logs."""
    env = dict(CLEAN_ENV)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=redis_url(),
        DEBUG="0",
        SECRET_KEY="bench",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL="http://127.0.0.1",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="WARNING",
        STATIC_ROOT=static_root,
    )
    env.update(overrides)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def static_root() -> str:
    """A STATIC_ROOT kept between runs (DEBUG=0 serves through WhiteNoise's manifest,
    and compressing every file takes minutes on a loaded machine)."""
    tag = hashlib.md5(bytes(ROOT)).hexdigest()[:8]
    return str(Path(tempfile.gettempdir()) / f"bench-static-{tag}")


def _static_is_fresh(root: Path) -> bool:
    manifest = root / "staticfiles.json"
    if not manifest.exists():
        return False
    newest = max(
        (path.stat().st_mtime for path in (ROOT / "static").rglob("*")), default=0
    )
    return manifest.stat().st_mtime > newest


def collectstatic(env: dict) -> None:
    """collectstatic into env's STATIC_ROOT, unless it is already up to date."""
    if _static_is_fresh(Path(env["STATIC_ROOT"])):
        return
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"collectstatic failed:\n{done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    env: dict, port: int, log, workers: int = 2, threads: int = 1
) -> subprocess.Popen:
    """gunicorn from .venv: `workers` sync workers, or gthread workers of `threads`."""
    argv = [str(VENV_BIN / "gunicorn"), "ticketing.wsgi", "-b", f"127.0.0.1:{port}"]
    argv += ["-w", str(workers)]
    if threads > 1:
        argv += ["--worker-class", "gthread", "--threads", str(threads)]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its workers
    )


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def wait_until_up(server: subprocess.Popen, url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} in {timeout} s")


class Served:
    """A running gunicorn: `base` URL; `log_text()` once it has stopped."""

    def __init__(self, base: str, log) -> None:
        self.base = base
        self._log = log
        self._final = None  # the whole log, kept when the server stops

    def log_text(self) -> str:
        if self._final is not None:
            return self._final
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


@contextmanager
def gunicorn(
    env: dict, up_path: str, *, workers: int = 2, threads: int = 1
) -> Iterator[Served]:
    """gunicorn started, waited for (`up_path` answering 200), stopped on exit. The
    log stays readable (`served.log_text()`) inside the block and after it."""
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log") as log:
        server = start_gunicorn(env, port, log, workers, threads)
        served = Served(f"http://127.0.0.1:{port}", log)
        try:
            wait_until_up(server, served.base + up_path)
            yield served
        except SystemExit:
            print(served.log_text()[-3000:])
            raise
        finally:
            stop_gunicorn(server)
            served._final = served.log_text()


# --- CPU ------------------------------------------------------------------------


def cpu_snapshot():
    """Busy and total jiffies of the machine, and CPU time per component (gunicorn,
    postgres, redis, loadgen, other) from ../shared/bench/http/cpu_by_proc.py."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = children.ru_utime + children.ru_stime  # wrk, once it has exited
    try:
        sys.path.insert(0, str(SHARED / "http"))
        import cpu_by_proc
    except ImportError:
        return sum(ticks) - idle, sum(ticks), waited, None
    return sum(ticks) - idle, sum(ticks), waited, cpu_by_proc.snapshot()


def cpu_since(before) -> dict:
    busy, total, waited, components = cpu_snapshot()
    result = {
        "cpu_busy_pct": round(100 * (busy - before[0]) / max(1, total - before[1]), 1)
    }
    if components is not None and before[3] is not None:
        import cpu_by_proc

        result["cpu_s"] = cpu_by_proc.diff(before[3], components)
        result["cpu_s"]["loadgen"] = round(waited - before[2], 2)
    return result


# --- Load and baselines -----------------------------------------------------------


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, script: Path, duration: int, connections: int, env=None) -> dict:
    """wrk -t2 with a Lua script of bench/http that prints a WRKJSON line."""
    if not have_wrk():
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    cpu_before = cpu_snapshot()
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
        + ["--latency", "-s", str(script), url],
        env={**CLEAN_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"wrk failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = json.loads(line.removeprefix("WRKJSON "))
    result["status"] = {int(k): v for k, v in result["status"].items()}
    return result | cpu_since(cpu_before)


def django_baseline(duration: int, connections: int) -> dict | None:
    """../shared/bench's bare Django view (buy-hot, ping) under gunicorn and wrk, by
    endpoint; None when it is missing or failed."""
    if not DJANGO_BASELINE.exists():
        print(f"baseline skipped: {DJANGO_BASELINE} not found")
        return None
    with (
        tempfile.NamedTemporaryFile(suffix=".jsonl") as out,
        tempfile.TemporaryDirectory(prefix="bench-djbase-") as project,
    ):
        done = subprocess.run(
            ["bash", str(DJANGO_BASELINE)],
            env={
                **CLEAN_ENV,
                "CONNS": str(connections),
                "DURATION": str(duration),
                "REPEATS": "1",
                "OUT": out.name,
                # Its own project folder and port: by default every run on the
                # machine writes /tmp/djbase and listens on 8801, and two at once
                # delete each other's project.
                "PROJ": project,
                "PORT": str(free_port()),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        rows = [json.loads(x) for x in Path(out.name).read_text().splitlines() if x]
    by_endpoint = {
        row["endpoint"]: row["wrk"]
        | {
            "status": {int(k): v for k, v in row["wrk"]["status"].items()},
            "cpu_busy_pct": row.get("cpu_busy_pct_during_load"),
            "cpu_s": row.get("cpu_s_by_component_during_load"),
        }
        for row in rows
    }
    if done.returncode or "buy-hot" not in by_endpoint:
        print("baseline failed:", (done.stderr or done.stdout)[-1000:])
        return None
    return by_endpoint


def pgbench_tps(script: Path, url: str, clients: int = 32, seconds: int = 10) -> float:
    """Transactions/s of pgbench running `script` (a custom script) on `url`."""
    done = subprocess.run(
        ["pgbench", "-n", "-f", str(script), "-c", str(clients), "-j", "2"]
        + ["-T", str(seconds), url.replace("postgres://", "postgresql://", 1)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise SystemExit(f"pgbench failed:\n{done.stdout[-1000:]}\n{done.stderr[-1000:]}")


# --- Figures ----------------------------------------------------------------------


def percentiles(samples: Sequence[float], points=(50, 90, 95, 99)) -> dict:
    """Nearest-rank percentiles of `samples` (any unit), as {"p50": ...}."""
    ordered = sorted(samples)
    if not ordered:
        return {f"p{p}": None for p in points}
    return {
        f"p{p}": ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] for p in points
    }


def results_path(day: dt.date | None = None) -> Path:
    return RESULTS / f"{(day or dt.datetime.now(dt.UTC).date()).isoformat()}.json"


def record(name: str, figures: dict, path: Path | None = None) -> Path:
    """Add one benchmark's `figures` under `name` to today's results file (runs of
    the same day accumulate; a later run of one benchmark replaces its entry)."""
    path = path or results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"recorded_at": dt.datetime.now(dt.UTC).isoformat()} | figures
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def goal(
    label: str,
    figure: float | None,
    baseline: float | None,
    target: float | None,
    *,
    unit: str,
    lower_is_better: bool = False,
    **extra,
) -> dict:
    """One row of `make bench`'s summary: a figure, its baseline of the same run,
    their ratio and whether the issue's target is met (None: no target, or no
    baseline to compare with)."""
    ratio = figure / baseline if figure is not None and baseline else None
    met = None
    if ratio is not None and target is not None:
        met = ratio <= target if lower_is_better else ratio >= target
    return {
        "label": label,
        "figure": figure,
        "unit": unit,
        "baseline": baseline,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "lower_is_better": lower_is_better,
        "met": met,
    } | extra
