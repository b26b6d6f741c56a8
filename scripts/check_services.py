"""Fail loudly, with the way to fix it, when the test services do not answer.

The suite runs on PostgreSQL and Redis, the services production runs on.
"""

import os
import sys
from urllib.parse import urlparse

import psycopg
import redis

START_HINT = """
Start them with one of:
  docker compose up -d db redis          (the compose file in this repository)
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  (Debian packages: apt-get install postgresql redis-server)
"""


def postgres_error(database_url: str) -> str | None:
    """Why PostgreSQL at `database_url` does not answer, or None when it does."""
    try:
        psycopg.connect(
            database_url.replace("postgres://", "postgresql://", 1),
            connect_timeout=3,
        ).close()
    except psycopg.Error as error:
        return str(error).strip() or error.__class__.__name__
    return None


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    problems = []
    if urlparse(database_url).scheme not in ("postgres", "postgresql", "pgsql"):
        problems.append(
            f"DATABASE_URL must name PostgreSQL for the tests, got {database_url!r}"
        )
    elif (error := postgres_error(database_url)) is not None:
        problems.append(f"PostgreSQL at {database_url} does not answer: {error}")
    if not redis_url:
        problems.append("REDIS_URL is not set")
    else:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as error:
            problems.append(f"Redis at {redis_url} does not answer: {error}")
    if problems:
        print("Cannot run the tests:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(START_HINT, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
