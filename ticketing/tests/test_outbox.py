"""The transactional outbox: rows commit with their cause, each due row reaches its
handler once per dispatch even with dispatchers racing, failures back off and die."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ticketing import outbox
from ticketing.lib.retry import RetryPolicy
from ticketing.models import OutboxMessage

Status = OutboxMessage.Status


class Recorder:
    """A handler that records every call (thread-safe) and can be told to fail."""

    def __init__(self, *, sleep: float = 0.0, fail: BaseException | None = None):
        self.calls: list[int] = []
        self.sleep = sleep
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> None:
        with self._lock:
            self.calls.append(message.pk)
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def kind(request):
    """A kind of its own for the test, unregistered afterwards."""
    name = f"test.{request.node.name}"[:100]
    yield name
    outbox._kinds.pop(name, None)


def _make_due(pk: int) -> None:
    OutboxMessage.objects.filter(pk=pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


# -- enqueue ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_row(kind):
    def booking_that_fails():
        with transaction.atomic():
            outbox.enqueue(kind, payload={"booking_id": 1}, key="booking:1")
            outbox.enqueue(kind, payload={"booking_id": 2})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        booking_that_fails()
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused(kind):
    assert not connection.in_atomic_block
    with pytest.raises(outbox.OutboxError, match="outside a transaction"):
        outbox.enqueue(kind, payload={"booking_id": 1})
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_commit_kicks_a_dispatch_that_runs_the_handler(kind):
    handler = Recorder()
    outbox.register(kind, handler)
    with transaction.atomic():
        pk = outbox.enqueue(kind, payload={"booking_id": 7}, organiser_id=3)
        assert handler.calls == []  # nothing runs before the commit
    # Celery runs eagerly in tests: the on-commit kick dispatched at once.
    assert handler.calls == [pk]
    row = OutboxMessage.objects.get(pk=pk)
    assert (row.status, row.attempts, row.payload) == (
        Status.DONE,
        1,
        {"booking_id": 7},
    )
    assert row.done_at is not None
    assert row.leased_until is None


@pytest.mark.django_db
def test_changes_to_one_key_coalesce_into_one_row(kind):
    first = outbox.enqueue(kind, payload={"v": 1}, key="ticket_type:5")
    second = outbox.enqueue(kind, payload={"v": 2}, key="ticket_type:5")
    third = outbox.enqueue(kind, payload={"v": 3}, key="ticket_type:5")
    other = outbox.enqueue(kind, payload={"v": 1}, key="ticket_type:6")
    unkeyed = [outbox.enqueue(kind, payload={"v": n}) for n in range(2)]

    assert first == second == third
    assert len({first, other, *unkeyed}) == 4
    row = OutboxMessage.objects.get(pk=first)
    assert (row.payload, row.version, row.status) == ({"v": 3}, 3, Status.PENDING)
    assert OutboxMessage.objects.filter(kind=kind).count() == 4


@pytest.mark.django_db
def test_many_rows_in_one_statement_coalesce_like_one_at_a_time(kind):
    pending = outbox.enqueue(kind, payload={"v": 0}, key="seat:1")
    Entry = outbox.Entry
    ids = outbox.enqueue_many(
        kind,
        [
            Entry("seat:1", {"v": 1}, organiser_id=4),  # absorbed by the pending row
            Entry("seat:2", {"v": 1}),
            Entry("seat:2", {"v": 2}),  # the later entry of a key wins
            Entry("", {"v": 1}),  # unkeyed rows never coalesce
            Entry("", {"v": 1}, organiser_id=None),
        ],
    )

    assert pending in ids
    assert len(ids) == len(set(ids)) == 4
    rows = OutboxMessage.objects.filter(kind=kind).order_by("key", "pk")
    assert [(row.key, row.payload, row.version) for row in rows] == [
        ("", {"v": 1}, 1),
        ("", {"v": 1}, 1),
        ("seat:1", {"v": 1}, 2),
        ("seat:2", {"v": 2}, 1),
    ]
    assert rows.get(key="seat:1").pk == pending
    assert rows.get(key="seat:1").organiser_id is None  # the pending row's own
    assert outbox.enqueue_many(kind, []) == []


@pytest.mark.django_db(transaction=True)
def test_many_rows_kick_a_dispatch_per_batch_and_all_are_handled(kind):
    handler = Recorder()
    outbox.register(kind, handler)
    with transaction.atomic():
        ids = outbox.enqueue_many(
            kind, [outbox.Entry(f"n:{n}", {"n": n}) for n in range(outbox.BATCH + 1)]
        )
    # Two kicks (eager in tests) for BATCH + 1 rows: none is left to beat.
    assert sorted(handler.calls) == sorted(ids)
    assert set(
        OutboxMessage.objects.filter(kind=kind).values_list("status", flat=True)
    ) == {Status.DONE}


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_outside_a_transaction_is_refused(kind):
    with pytest.raises(outbox.OutboxError, match="outside a transaction"):
        outbox.enqueue_many(kind, [outbox.Entry("k")])
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_delayed_row_becomes_due_no_later_than_a_new_change(kind):
    pk = outbox.enqueue(kind, key="k", delay=dt.timedelta(seconds=2))
    later = OutboxMessage.objects.get(pk=pk).next_attempt_at
    assert later > timezone.now()
    outbox.enqueue(kind, key="k")
    assert OutboxMessage.objects.get(pk=pk).next_attempt_at < later


@pytest.mark.django_db
def test_a_key_done_or_dead_does_not_absorb_a_new_change(kind):
    outbox.register(kind, Recorder())
    pk = outbox.enqueue(kind, key="k")
    assert outbox.dispatch(kinds=[kind]) == 1
    again = outbox.enqueue(kind, key="k")
    assert again != pk
    assert OutboxMessage.objects.get(pk=again).status == Status.PENDING


# -- dispatch --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_handler_is_rescheduled_with_backoff(kind):
    handler = Recorder(fail=ConnectionError("provider down"))
    outbox.register(kind, handler, policy=RetryPolicy(base=60, cap=600, jitter=0.2))
    pk = outbox.enqueue(kind, payload={"n": 1})

    before = timezone.now()
    assert outbox.dispatch(kinds=[kind]) == 0
    row = OutboxMessage.objects.get(pk=pk)
    assert (row.status, row.attempts, row.leased_until) == (Status.PENDING, 1, None)
    assert row.last_error == "ConnectionError: provider down"
    assert before + dt.timedelta(seconds=48) <= row.next_attempt_at
    assert row.next_attempt_at <= timezone.now() + dt.timedelta(seconds=60)
    assert outbox.dispatch(kinds=[kind]) == 0  # not due yet: not called again
    assert handler.calls == [pk]

    _make_due(pk)
    before = timezone.now()
    outbox.dispatch(kinds=[kind])
    row.refresh_from_db()
    assert row.attempts == 2
    assert before + dt.timedelta(seconds=96) <= row.next_attempt_at  # doubled
    assert row.next_attempt_at <= timezone.now() + dt.timedelta(seconds=120)


@pytest.mark.django_db
def test_a_retry_after_from_the_handler_error_is_honoured(kind):
    error = ConnectionError("429")
    error.retry_after = 300
    outbox.register(kind, Recorder(fail=error), policy=RetryPolicy(base=1, cap=900))
    pk = outbox.enqueue(kind)
    before = timezone.now()
    outbox.dispatch(kinds=[kind])
    assert OutboxMessage.objects.get(pk=pk).next_attempt_at >= before + dt.timedelta(
        seconds=300
    )


@pytest.mark.django_db
def test_a_row_past_its_attempt_limit_is_dead_and_keeps_its_error(kind):
    handler = Recorder(fail=TimeoutError("read timed out"))
    outbox.register(kind, handler, policy=RetryPolicy(base=1, cap=5, max_attempts=3))
    pk = outbox.enqueue(kind, payload={"n": 1})
    for _ in range(3):
        outbox.dispatch(kinds=[kind])
        _make_due(pk)
    row = OutboxMessage.objects.get(pk=pk)
    assert (row.status, row.attempts) == (Status.DEAD, 3)
    assert row.last_error == "TimeoutError: read timed out"
    outbox.dispatch(kinds=[kind])
    assert handler.calls == [pk, pk, pk]  # a dead row is never handled again
    assert outbox.oldest_due(timezone.now()) is None

    assert outbox.retry_now([pk]) == 1  # the admin's retry
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PENDING, 0)


@pytest.mark.django_db
def test_an_error_that_says_retrying_cannot_help_is_dead_at_once(kind):
    outbox.register(kind, Recorder(fail=outbox.GiveUp("no such booking")))
    pk = outbox.enqueue(kind)
    outbox.dispatch(kinds=[kind])
    row = OutboxMessage.objects.get(pk=pk)
    assert (row.status, row.attempts) == (Status.DEAD, 1)
    assert row.last_error == "GiveUp: no such booking"


@pytest.mark.django_db
def test_a_row_without_a_handler_waits_and_says_why(kind):
    pk = outbox.enqueue(kind)
    outbox.dispatch(kinds=[kind])
    row = OutboxMessage.objects.get(pk=pk)
    assert row.status == Status.PENDING
    assert row.last_error == "OutboxError: no handler registered"
    assert row.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_a_change_while_the_handler_runs_is_handled_again(kind):
    seen = []

    def handler(message):
        seen.append(message.payload["v"])
        if len(seen) == 1:  # the object changes while we push its first state
            with transaction.atomic():
                outbox.enqueue(kind, payload={"v": 2}, key="k")

    outbox.register(kind, handler)
    pk = outbox.enqueue(kind, payload={"v": 1}, key="k")
    assert outbox.dispatch(kinds=[kind]) == 1
    row = OutboxMessage.objects.get(pk=pk)
    assert row.status == Status.PENDING  # not marked done over the newer change
    assert outbox.dispatch(kinds=[kind]) == 1
    row.refresh_from_db()
    assert row.status == Status.DONE
    assert seen == [1, 2]


@pytest.mark.django_db
def test_a_change_while_the_handler_runs_waits_the_kinds_min_interval(kind):
    seen = []

    def handler(message):
        seen.append(message.payload["v"])
        if len(seen) == 1:
            with transaction.atomic():
                outbox.enqueue(kind, payload={"v": 2}, key="k")

    outbox.register(kind, handler, min_interval=dt.timedelta(seconds=2))
    pk = outbox.enqueue(kind, payload={"v": 1}, key="k")
    before = timezone.now()
    assert outbox.dispatch(kinds=[kind]) == 1
    row = OutboxMessage.objects.get(pk=pk)
    assert row.status == Status.PENDING
    assert row.next_attempt_at >= before + dt.timedelta(seconds=2)
    assert outbox.dispatch(kinds=[kind]) == 0  # not again within the interval
    _make_due(pk)
    assert outbox.dispatch(kinds=[kind]) == 1
    assert seen == [1, 2]


@pytest.mark.django_db
def test_a_dispatcher_that_died_after_claiming_frees_the_row_after_its_lease(
    kind, monkeypatch
):
    handler = Recorder()
    outbox.register(kind, handler)
    pk = outbox.enqueue(kind)

    def die(pk, *, claimed_lease):
        raise SystemExit("worker killed after the claim")

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "_handle", die)
        with pytest.raises(SystemExit):
            outbox.dispatch(kinds=[kind])
    row = OutboxMessage.objects.get(pk=pk)
    assert row.leased_until > timezone.now()
    assert outbox.dispatch(kinds=[kind]) == 0  # leased: nobody else takes it
    assert handler.calls == []

    OutboxMessage.objects.filter(pk=pk).update(
        leased_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert outbox.dispatch(kinds=[kind]) == 1
    assert handler.calls == [pk]
    assert OutboxMessage.objects.get(pk=pk).status == Status.DONE


@pytest.mark.django_db
def test_a_row_whose_lease_lapsed_before_its_turn_keeps_its_attempt(kind):
    """A batch claimed together, slow enough that a row's lease lapsed and another
    dispatcher took it: the first one's claim spent no attempt on it."""
    handler = Recorder()
    outbox.register(kind, handler)
    pk = outbox.enqueue(kind)
    first_claim = timezone.now() - dt.timedelta(minutes=10)
    OutboxMessage.objects.filter(pk=pk).update(leased_until=first_claim, attempts=1)
    assert outbox.dispatch(kinds=[kind]) == 1  # the second dispatcher, lease lapsed
    assert OutboxMessage.objects.get(pk=pk).attempts == 2

    assert outbox._handle(pk, claimed_lease=first_claim) is False  # its turn, late

    row = OutboxMessage.objects.get(pk=pk)
    assert (row.status, row.attempts) == (Status.DONE, 1)
    assert handler.calls == [pk]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_never_run_one_row_twice(kind):
    handler = Recorder(sleep=0.02)
    outbox.register(kind, handler)
    with transaction.atomic():
        ids = [outbox.enqueue(kind, payload={"n": n}) for n in range(30)]
        # (the on-commit kick would dispatch them all in this thread first)
        connection.run_on_commit.clear()
    start = threading.Barrier(3)
    errors = []

    def dispatcher():
        try:
            start.wait()
            while outbox.dispatch(limit=3, kinds=[kind]):
                pass
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(handler.calls) == sorted(ids)  # each exactly once
    assert set(
        OutboxMessage.objects.filter(pk__in=ids).values_list("status", flat=True)
    ) == {Status.DONE}
    assert set(
        OutboxMessage.objects.filter(pk__in=ids).values_list("attempts", flat=True)
    ) == {1}


@pytest.mark.django_db
def test_the_health_backlog_is_the_oldest_due_row(kind):
    from ticketing import health

    assert health.backlogs()["outbox"].oldest_due is outbox.oldest_due
    now = timezone.now()
    assert outbox.oldest_due(now) is None
    pk = outbox.enqueue(kind)
    OutboxMessage.objects.filter(pk=pk).update(
        next_attempt_at=now - dt.timedelta(minutes=6)
    )
    outbox.enqueue(kind, delay=dt.timedelta(minutes=1))  # not due: not counted
    assert outbox.oldest_due(now) == now - dt.timedelta(minutes=6)


@pytest.mark.django_db
def test_purge_keeps_a_week_of_done_rows(kind):
    outbox.register(kind, Recorder())
    old, recent = outbox.enqueue(kind), outbox.enqueue(kind)
    outbox.dispatch(kinds=[kind])
    OutboxMessage.objects.filter(pk=old).update(
        done_at=timezone.now() - dt.timedelta(days=8)
    )
    assert outbox.purge_done() == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [recent]


def test_beat_runs_dispatch_every_30_seconds(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["ticketing-outbox-dispatch"]
    assert entry["task"] == "ticketing.tasks.outbox_dispatch"
    assert entry["schedule"] == 30.0
