"""The booking lookup page (issue 16, item 9): limited per address and per email with
the same answer whether or not a booking matches, and its email sent by the outbox
after commit, never inside the request."""

import uuid

import pytest
from django.core import mail
from django.core.cache import cache

from bookings.access import booking_page_path
from notifications.models import Notification

from .helpers import hold

pytestmark = pytest.mark.django_db

SAME_ANSWER = "If that reference and email match a booking"
LIMITED = "Too many lookups from you in a short time"


@pytest.fixture(autouse=True)
def _fresh_counters():
    yield
    cache.delete_pattern("lookup:*")


@pytest.fixture
def booking(session, ticket_type):
    return hold(session, (ticket_type, 1))


def _ip() -> str:
    return f"198.18.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 254 + 1}"


def _lookup(client, reference, email, ip):
    return client.post(
        "/b/lookup/", {"reference": reference, "email": email}, REMOTE_ADDR=ip
    )


def test_the_link_is_queued_in_the_outbox_and_sent_after_commit(
    client, booking, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = _lookup(client, booking.reference, "ADA@example.org", _ip())

    # Nothing was sent inside the request: a row waits for its task.
    assert answer.status_code == 302
    assert mail.outbox == []
    row = Notification.objects.get(booking=booking)
    assert (row.template, row.channel, row.status, row.recipient) == (
        Notification.Template.LOOKUP,
        Notification.Channel.EMAIL,
        Notification.Status.QUEUED,
        "ada@example.org",
    )
    assert len(callbacks) == 1

    callbacks[0]()
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]
    assert booking.reference in message.subject
    assert booking_page_path(booking.reference).split("?t=")[0] in message.body


def test_a_broker_outage_leaves_the_row_for_the_retry_sweep(
    client, booking, django_capture_on_commit_callbacks, monkeypatch
):
    from ticketing import outbox
    from ticketing.tasks import outbox_dispatch_task

    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox_dispatch_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        answer = _lookup(client, booking.reference, "ada@example.org", _ip())

    assert answer.status_code == 302
    row = Notification.objects.get(booking=booking)
    assert row.status == Notification.Status.QUEUED
    # The outbox row committed with it: beat's dispatch sends it.
    assert outbox.dispatch() == 1
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert len(mail.outbox) == 1


def test_no_match_queues_nothing_and_answers_the_same(client, booking):
    ip = _ip()
    wrong = _lookup(client, booking.reference, "eve@example.org", ip)
    right = _lookup(client, booking.reference, "ada@example.org", _ip())

    assert wrong.status_code == right.status_code == 302
    assert wrong["Location"] == right["Location"]
    assert Notification.objects.filter(booking=booking).count() == 1


def test_lookups_are_limited_per_address(client, booking, settings):
    settings.LOOKUP_PER_IP_PER_HOUR = 2
    ip = _ip()
    answers = [_lookup(client, "MC26-XXXXXX", f"{n}@example.org", ip) for n in range(2)]
    refused_unknown = _lookup(client, "MC26-XXXXXX", "x@example.org", ip)
    refused_real = _lookup(client, booking.reference, "ada@example.org", ip)

    assert [a.status_code for a in answers] == [302, 302]
    # Refused alike whether or not the booking exists, and nothing is queued.
    for refused in (refused_unknown, refused_real):
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert LIMITED in refused.content.decode()
    assert Notification.objects.count() == 0


def test_lookups_are_limited_per_email_from_any_address(client, booking, settings):
    settings.LOOKUP_PER_EMAIL_PER_HOUR = 3
    codes = [
        _lookup(client, booking.reference, "Ada@Example.org", _ip()).status_code
        for _ in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]
    assert Notification.objects.filter(booking=booking).count() == 3
