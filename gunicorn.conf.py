"""gunicorn's settings, read from the working directory at start (the image's /app,
`make smoke`, the benchmarks). Only the metrics hooks live here: the command line
and WEB_CONCURRENCY say the rest.

With PROMETHEUS_MULTIPROC_DIR set (the Docker image sets it), each worker process
writes its counters and histograms to files there, and `/metrics`, answered by any
one worker, adds up all of them (`ticketing.metrics.registry`). Without it these
hooks do nothing. Standard library only until then: this file is read before the
application is loaded.
"""

import os
from pathlib import Path


def on_starting(server):
    """Empty the directory before the first worker starts: files left by the
    processes of a previous start would be added to this one's figures (and a
    changed metric's old files can break the sum)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    mine = f"_{os.getpid()}.db"  # made if the app was preloaded: still in use
    for stale in path.glob("*.db"):
        if not stale.name.endswith(mine):
            stale.unlink(missing_ok=True)


def child_exit(server, worker):
    """A worker that exits (restarted after max_requests, killed by a timeout):
    its live gauges stop counting; its counters stay in the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
