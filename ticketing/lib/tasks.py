"""What a queued task does when the row it was queued for no longer exists.

A message can outlive its row: a booking deleted in admin, a database restored from a
backup while the broker kept its queue, a retry delivered after a purge. Running the
task again cannot bring the row back, so raising would only mark the task failed and
page someone for nothing. The task logs a warning naming what is missing and ends.
"""

from __future__ import annotations

import functools
import logging

from django.core.exceptions import ObjectDoesNotExist

logger = logging.getLogger(__name__)


def done_when_row_gone(task_function):
    """Wrap a task body (under `@shared_task`) so a missing row ends it quietly."""

    @functools.wraps(task_function)
    def run(*args, **kwargs):
        try:
            return task_function(*args, **kwargs)
        except ObjectDoesNotExist as gone:
            logger.warning(
                "%s%s: nothing to do, a row it needs no longer exists (%s)",
                task_function.__name__,
                tuple(a for a in args if not hasattr(a, "request")),
                gone,
            )
            return None

    return run
