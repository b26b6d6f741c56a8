"""A sync's threads: some fetch, others write, so that no fetch waits for a write.

When one thread fetched a listing and then wrote it, the writes (two or three
transactions, one under the session lock: 50 to 100 ms on a busy database) sat
between its calls, and a run took (calls + writes) per thread instead of the calls
alone. Here `fetchers` threads only call the platform and hand what they got to
`writers` threads, which keep one database connection each for the whole run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection as db_connection

Item = TypeVar("Item")
Fetched = TypeVar("Fetched")
Outcome = TypeVar("Outcome")

_NO_MORE = object()


@dataclass(frozen=True, slots=True)
class Crash:
    """A fetch or a write raised something unexpected (a bug): the run must end."""

    error: BaseException


class _Pipeline(Generic[Item, Fetched, Outcome]):
    def __init__(
        self,
        items: list[Item],
        fetch: Callable[[Item], Fetched],
        write: Callable[[Item, Fetched], Outcome],
        fetchers: int,
        writers: int,
    ) -> None:
        self.fetch = fetch
        self.write = write
        self.writers = writers
        self.todo: queue.SimpleQueue[Item] = queue.SimpleQueue()
        for item in items:
            self.todo.put(item)
        self.to_write: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue[Outcome | Crash] = queue.SimpleQueue()
        self.fetchers_left = fetchers
        self.lock = threading.Lock()

    def fetch_loop(self) -> None:
        try:
            while True:
                try:
                    item = self.todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    self.to_write.put((item, self.fetch(item)))
                except BaseException as error:
                    self.done.put(Crash(error))
        finally:
            db_connection.close()  # a no-op unless a fetch touched the database
            with self.lock:
                self.fetchers_left -= 1
                last = self.fetchers_left == 0
            if last:
                for _ in range(self.writers):
                    self.to_write.put(_NO_MORE)

    def write_loop(self) -> None:
        try:
            while (entry := self.to_write.get()) is not _NO_MORE:
                try:
                    self.done.put(self.write(*entry))
                except BaseException as error:
                    self.done.put(Crash(error))
                finally:
                    _connection_drop_if_broken()
        finally:
            # Pool threads are not request threads: nothing else closes it.
            db_connection.close()


def _connection_drop_if_broken() -> None:
    # Dropped as at the end of a request: only once a query failed on it and it
    # no longer answers (a new connection per listing cost a backend's start).
    if db_connection.errors_occurred:
        db_connection.close_if_unusable_or_obsolete()


def fetch_then_write(
    items: list[Item],
    *,
    fetch: Callable[[Item], Fetched],
    write: Callable[[Item, Fetched], Outcome],
    fetchers: int,
    name: str,
    tick: float,
) -> Iterator[Outcome | Crash | None]:
    """Fetch every item in `fetchers` threads and write each, as soon as it is
    fetched, in one of a quarter as many writer threads (a write takes a fraction of
    a fetch's calls). Yields each write's outcome as it comes (a Crash where a fetch
    or a write raised), and None when nothing came for `tick` seconds. `fetch` must
    not raise for an expected failure: it returns it for `write` to record. Every
    item yields exactly one outcome or Crash; after a Crash the other items still go
    through (as a thread pool's futures would). Close the generator when leaving
    early (contextlib.closing): that waits for the threads."""
    writers = max(1, (fetchers + 3) // 4)
    pipeline = _Pipeline(items, fetch, write, fetchers, writers)
    with ThreadPoolExecutor(
        max_workers=fetchers + writers, thread_name_prefix=name
    ) as pool:
        for _ in range(writers):
            pool.submit(pipeline.write_loop)
        for _ in range(fetchers):
            pool.submit(pipeline.fetch_loop)
        remaining = len(items)
        while remaining:
            try:
                outcome = pipeline.done.get(timeout=tick)
            except queue.Empty:
                yield None
                continue
            remaining -= 1
            yield outcome
