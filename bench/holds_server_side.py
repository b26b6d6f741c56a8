"""What a hold would gain from running inside PostgreSQL: pgbench, same load, two ways.

    .venv/bin/python bench/holds_server_side.py [--clients 1,8,32] [--duration 8]

bench/pg/hold.sql is our hold as the service runs it: a transaction of statements
sent one by one (lock the session, share-lock the ticket type, write the rows,
commit), so the session row stays locked across three client round trips.
bench/pg/hold_function.sql is the same statements in one PL/pgSQL function, called
as one statement (bench/pg/hold_call.sql): the row is locked only while the server
runs them. Both run at each client count on a fresh hot session of the bench
database of bench/holds.py, one after the other; the ratio is function / transaction.

The function is a measurement, not product code: the service's hold also checks
sales windows, shares per buyer, discount codes and allocations under the lock
(bench/README.md, "Holds", says what moving it would take).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import holds as hold_bench  # noqa: E402  (the same database and fixtures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--duration", type=int, default=8)
    args = parser.parse_args()

    hold_bench._ensure_database()
    hold_bench._django_setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute((hold_bench.ROOT / "bench/pg/hold_function.sql").read_text())

    print(f"{'clients':>7}{'transaction tps':>17}{'function tps':>14}{'ratio':>7}")
    failed = False
    for clients in (int(n) for n in args.clients.split(",")):
        runs = [
            hold_bench._pgbench_same_transaction(args.duration, clients, script)
            for script in ("hold.sql", "hold_call.sql")
        ]
        if not all(runs):
            failed = True
            continue
        statements, function = (run["tps"] for run in runs)
        failed |= any(run["oversold"] for run in runs)
        print(
            f"{clients:>7}{statements:>17.0f}{function:>14.0f}"
            f"{function / statements:>7.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
