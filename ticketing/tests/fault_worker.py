"""Loaded into a real Celery worker by the worker-kill tests (`celery -A ticketing
worker -I ticketing.tests.fault_worker`), never by the application.

With FAULT_MARKERS set to a directory, the worker pauses `FAULT_TASK` runs at
FAULT_PAUSE ("prerun": before the task body, "postrun": after it returned, before
the broker is acknowledged): it writes `paused-<pid>` there and waits for a `go`
file, so that the test can SIGKILL it at that exact point.
"""

import os
import time
from pathlib import Path

from celery.signals import task_postrun, task_prerun


def _pause(where: str, task) -> None:
    markers = os.environ.get("FAULT_MARKERS")
    if not markers or os.environ.get("FAULT_PAUSE") != where:
        return
    if task.name != os.environ.get("FAULT_TASK"):
        return
    directory = Path(markers)
    go = directory / "go"
    if go.exists():
        return
    (directory / f"paused-{os.getpid()}").write_text(where)
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@task_prerun.connect
def _before(sender=None, task=None, **kwargs):
    _pause("prerun", task)


@task_postrun.connect
def _after(sender=None, task=None, **kwargs):
    _pause("postrun", task)
