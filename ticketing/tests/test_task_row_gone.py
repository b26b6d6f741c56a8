"""A task whose row no longer exists ends with a warning, not a failure.

Seen for real: a deployment's broker kept messages from before its database was
recreated, and the worker's first task raised Booking.DoesNotExist.
"""

import inspect
import logging

import pytest

from admission.tasks import booking_document_delete_task, booking_document_render_task
from integrations.tasks import (
    connection_sync_scheduled_task,
    connection_sync_task,
    platform_webhook_process_task,
    sync_run_execute_task,
)
from integrations.xero.tasks import reconcile_task, webhook_event_process_task
from invoicing.tasks import invoice_send_task
from payments.tasks import payment_cancel_open_task, webhook_process_task

MISSING = 987_654_321

pytestmark = pytest.mark.django_db

TASKS_AND_ARGS = [
    (booking_document_render_task, (MISSING,)),
    (booking_document_delete_task, (MISSING,)),
    (connection_sync_scheduled_task, (MISSING,)),
    (connection_sync_task, (MISSING, "manual")),
    (sync_run_execute_task, (MISSING,)),
    (platform_webhook_process_task, (MISSING,)),
    (reconcile_task, (MISSING,)),
    (webhook_event_process_task, (MISSING,)),
    (invoice_send_task, (MISSING,)),
    (webhook_process_task, (MISSING,)),
    (payment_cancel_open_task, ([MISSING],)),
]


@pytest.mark.parametrize(
    ("task", "args"), TASKS_AND_ARGS, ids=[t.name for t, _ in TASKS_AND_ARGS]
)
def test_a_task_for_a_missing_row_succeeds_without_effect(task, args, caplog):
    result = task.apply(args=args)

    assert result.successful(), result.traceback


def test_the_missing_row_is_named_in_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="ticketing.lib.tasks"):
        result = booking_document_render_task.apply(args=(MISSING,))

    assert result.successful()
    assert result.result is None
    assert "Booking matching query does not exist" in caplog.text
    assert str(MISSING) in caplog.text


def test_without_the_guard_the_same_call_fails():
    """The control: the bare task body raises, so the guard is what ends it."""
    from bookings.models import Booking

    # The body under Celery's autoretry wrapper and the guard.
    body = inspect.unwrap(booking_document_render_task.run)
    with pytest.raises(Booking.DoesNotExist):
        body(booking_document_render_task, MISSING)
