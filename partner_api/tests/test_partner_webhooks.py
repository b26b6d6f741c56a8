"""Partner webhooks: queueing, signing, retries, replay from the admin, check-ins."""

import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from admission.checkin import OK, ticket_check_in
from bookings.services import booking_cancel, booking_confirm
from bookings.tests.helpers import hold
from bookings.tests.ticket_factories import TicketFactory
from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from partner_api.models import PartnerWebhookDelivery
from partner_api.webhooks import services
from ticketing import outbox
from ticketing.models import Alert, OutboxMessage
from ticketing.tasks import outbox_dispatch_task
from ticketing.tests.broker import broker_fixture  # noqa: F401
from ticketing.tests.outbox import beat_dispatch

from .factories import PartnerWebhookFactory

URL = "https://partner.example.com/hooks"
Status = PartnerWebhookDelivery.Status


def _confirmed(session, ticket_type, capture):
    booking = hold(session, (ticket_type, 2))
    with capture(execute=True):
        booking_confirm(booking_id=booking.pk)
    booking.refresh_from_db()
    return booking


def _beat_dispatch(capture, *, later=dt.timedelta(0)) -> int:
    return beat_dispatch(services.DELIVERY_KIND, capture, later=later)


def _verify(request, secret: str) -> dict:
    """What a partner does: parse the header, recompute the HMAC, check freshness."""
    header = request.headers["X-Ticketing-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    body = request.body.decode()
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(time.time() - int(parts["t"])) < 60
    return json.loads(body)


@pytest.fixture(autouse=True)
def _dns(monkeypatch):
    """Endpoints are resolved at registration and delivery; tests never ask real DNS.
    Names under example.com resolve to a public address, literals to themselves."""
    import ipaddress
    import socket

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            if not host.endswith("example.com"):
                raise socket.gaierror(socket.EAI_NONAME, host) from None
            address = "93.184.215.14"
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.mark.django_db
def test_confirmed_booking_posts_one_signed_delivery(
    session, ticket_type, django_capture_on_commit_callbacks, mocked
):
    webhook = PartnerWebhookFactory(
        organiser=session.event.organiser, url=URL, events=["booking.confirmed"]
    )
    mocked.post(URL, status=200)

    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    assert len(mocked.calls) == 1
    request = mocked.calls[0].request
    payload = _verify(request, webhook.secret)
    assert payload["type"] == "booking.confirmed"
    assert payload["id"].startswith("evt_")
    assert payload["data"] == {
        "booking": {
            "reference": booking.reference,
            "status": "confirmed",
            "event_id": booking.event_id,
            "session_id": booking.session_id,
            "quantity": 2,
            "total_minor": booking.total_minor,
            "currency": booking.currency,
        }
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Ticketing-Event"] == "booking.confirmed"
    delivery = PartnerWebhookDelivery.objects.get()
    assert request.headers["X-Ticketing-Delivery"] == str(delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.SUCCEEDED,
        1,
        200,
    )
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    assert [entry["status_code"] for entry in delivery.attempt_log] == [200]


@pytest.mark.django_db
def test_a_wrong_secret_fails_verification(
    session, ticket_type, django_capture_on_commit_callbacks, mocked
):
    PartnerWebhookFactory(organiser=session.event.organiser, url=URL)
    mocked.post(URL, status=200)

    _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    with pytest.raises(AssertionError):
        _verify(mocked.calls[0].request, "whsec_not-the-secret")


@pytest.mark.django_db
def test_a_500_fails_with_backoff_and_a_retry_succeeds(
    session, ticket_type, django_capture_on_commit_callbacks, mocked
):
    webhook = PartnerWebhookFactory(organiser=session.event.organiser, url=URL)
    mocked.post(URL, status=500, body="boom")
    before = timezone.now()

    _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    delivery = PartnerWebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.FAILED,
        1,
        500,
    )
    assert delivery.last_error == "HTTP 500: boom"
    # The one retry policy: 30 s, up to 20 % shorter.
    assert (
        before + dt.timedelta(seconds=24)
        <= delivery.next_attempt_at
        <= timezone.now() + dt.timedelta(seconds=30)
    )
    # Not due yet: nothing is sent.
    assert _beat_dispatch(django_capture_on_commit_callbacks) == 0
    assert len(mocked.calls) == 1

    PartnerWebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    mocked.replace(responses.POST, URL, status=204)
    later = dt.timedelta(seconds=30)
    assert _beat_dispatch(django_capture_on_commit_callbacks, later=later) == 1

    assert len(mocked.calls) == 2
    first, second = (_verify(call.request, webhook.secret) for call in mocked.calls)
    assert first == second  # same event id: partners can deduplicate
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.SUCCEEDED,
        2,
        204,
    )
    assert delivery.last_error == ""
    assert [(e["status_code"], e["error"]) for e in delivery.attempt_log] == [
        (500, "HTTP 500: boom"),
        (204, ""),
    ]


@pytest.mark.django_db
def test_a_429_with_retry_after_waits_as_asked_up_to_the_cap(
    session, ticket_type, django_capture_on_commit_callbacks, mocked
):
    """Any non-2xx is retried; a Retry-After longer than the backoff is honoured (the
    one parser: seconds or an HTTP date), but never past the policy's cap."""
    PartnerWebhookFactory(organiser=session.event.organiser, url=URL)
    mocked.post(URL, status=429, headers={"Retry-After": "600"})
    before = timezone.now()

    _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    delivery = PartnerWebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (Status.FAILED, 429)
    assert (
        before + dt.timedelta(seconds=600)
        <= delivery.next_attempt_at
        <= timezone.now() + dt.timedelta(seconds=600)
    )

    PartnerWebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    mocked.replace(responses.POST, URL, status=503, headers={"Retry-After": "86400"})
    before = timezone.now()
    services.delivery_send(delivery.pk)
    delivery.refresh_from_db()
    cap = dt.timedelta(seconds=services.RETRY_POLICY.cap)
    assert before + cap <= delivery.next_attempt_at <= timezone.now() + cap


@pytest.mark.django_db
def test_network_errors_are_logged_and_it_gives_up_after_max_attempts(mocked):
    webhook = PartnerWebhookFactory(url=URL)
    delivery = PartnerWebhookDelivery.objects.create(
        webhook=webhook,
        event="booking.confirmed",
        payload={"id": "evt_1", "type": "booking.confirmed", "data": {}},
        attempts=services.MAX_ATTEMPTS - 1,
        status=Status.FAILED,
        next_attempt_at=timezone.now(),
    )
    # No response registered: responses raises ConnectionError.
    assert services.delivery_send(delivery.pk) == Status.FAILED

    delivery.refresh_from_db()
    assert delivery.attempts == services.MAX_ATTEMPTS
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("ConnectionError: ")
    assert delivery.next_attempt_at is None  # given up
    alert = Alert.objects.get(kind=Alert.Kind.DELIVERY_EXHAUSTED)
    assert alert.subject == f"partner-webhook-delivery:{delivery.pk}"
    assert alert.organiser_id == webhook.organiser_id
    assert alert.link == (
        f"/admin/partner_api/partnerwebhookdelivery/{delivery.pk}/change/"
    )
    # ...so its outbox row is done, not retried.
    message = OutboxMessage(payload={"delivery_id": delivery.pk})
    assert services.delivery_send_handler(message) is None
    assert len(delivery.attempt_log) == 1


@pytest.mark.django_db
def test_a_redirect_is_not_followed(mocked):
    delivery = PartnerWebhookDelivery.objects.create(
        webhook=PartnerWebhookFactory(url=URL),
        event="booking.confirmed",
        payload={"id": "evt_1"},
        next_attempt_at=timezone.now(),
    )
    mocked.post(URL, status=302, headers={"Location": "http://169.254.169.254/"})

    assert services.delivery_send(delivery.pk) == Status.FAILED

    assert len(mocked.calls) == 1
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_sent_twice(mocked):
    delivery = PartnerWebhookDelivery.objects.create(
        webhook=PartnerWebhookFactory(url=URL),
        event="booking.confirmed",
        payload={"id": "evt_1"},
        next_attempt_at=timezone.now(),
    )
    mocked.post(URL, status=200)

    assert services.delivery_send(delivery.pk) == Status.SUCCEEDED
    assert services.delivery_send(delivery.pk) == Status.SUCCEEDED

    assert len(mocked.calls) == 1


@pytest.mark.django_db
def test_only_subscribed_events_and_own_webhooks_get_deliveries(
    session, ticket_type, django_capture_on_commit_callbacks, mocked
):
    organiser = session.event.organiser
    confirmed = PartnerWebhookFactory(organiser=organiser, url=URL)
    cancelled = PartnerWebhookFactory(
        organiser=organiser,
        url="https://cancel.example.com/",
        events=["booking.cancelled", "booking.refunded"],
    )
    PartnerWebhookFactory(organiser=organiser, url=URL, is_active=False)
    PartnerWebhookFactory(organiser=OrganiserFactory(), url="https://other.example/")
    mocked.post(URL, status=200)
    mocked.post("https://cancel.example.com/", status=200)

    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk)

    rows = PartnerWebhookDelivery.objects.order_by("id")
    assert [(row.webhook_id, row.event, row.status) for row in rows] == [
        (confirmed.pk, "booking.confirmed", Status.SUCCEEDED),
        (cancelled.pk, "booking.cancelled", Status.SUCCEEDED),
    ]
    assert [call.request.url for call in mocked.calls] == [
        URL,
        "https://cancel.example.com/",
    ]
    payload = _verify(mocked.calls[1].request, cancelled.secret)
    assert payload["data"]["booking"]["status"] == "cancelled"


@pytest.mark.django_db
def test_check_in_posts_ticket_checked_in(django_capture_on_commit_callbacks, mocked):
    ticket = TicketFactory(code="7K3Q-XZ9M")
    webhook = PartnerWebhookFactory(
        organiser=ticket.organiser, url=URL, events=["ticket.checked_in"]
    )
    mocked.post(URL, status=200)

    with django_capture_on_commit_callbacks(execute=True):
        result = ticket_check_in(
            token=ticket.code, organiser_ids=[ticket.organiser_id], actor="Door 1"
        )

    assert result.result == OK
    payload = _verify(mocked.calls[0].request, webhook.secret)
    assert payload["type"] == "ticket.checked_in"
    assert payload["data"]["ticket"]["code"] == "7K3Q-XZ9M"
    assert payload["data"]["ticket"]["status"] == "used"
    assert payload["data"]["booking"] == {"reference": ticket.booking.reference}
    delivery = PartnerWebhookDelivery.objects.get()
    assert (delivery.event, delivery.status) == ("ticket.checked_in", Status.SUCCEEDED)


@pytest.mark.django_db
def test_admin_replay_sends_again(client, django_capture_on_commit_callbacks, mocked):
    webhook = PartnerWebhookFactory(url=URL)
    delivery = PartnerWebhookDelivery.objects.create(
        webhook=webhook,
        event="booking.confirmed",
        payload={"id": "evt_1", "type": "booking.confirmed", "data": {}},
        next_attempt_at=timezone.now(),
    )
    mocked.post(URL, status=200)
    services.delivery_send(delivery.pk)
    user = UserFactory(is_staff=True)
    MembershipFactory(
        user=user, organiser=webhook.organiser, role=Membership.Role.MANAGER
    )
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:partner_api_partnerwebhookdelivery_changelist"),
            {"action": "replay", "_selected_action": [delivery.pk]},
        )

    assert response.status_code == 302
    assert len(mocked.calls) == 2
    _verify(mocked.calls[1].request, webhook.secret)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SUCCEEDED, 1)
    assert len(delivery.attempt_log) == 2


@pytest.mark.django_db
def test_admin_shows_the_secret_masked_and_rotates_it(client):
    webhook = PartnerWebhookFactory(url=URL)
    old = webhook.secret
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    page = client.get(
        reverse("admin:partner_api_partnerwebhook_change", args=[webhook.pk])
    ).content.decode()
    assert old not in page
    assert webhook.secret_masked in page

    response = client.post(
        reverse("admin:partner_api_partnerwebhook_changelist"),
        {"action": "rotate_secrets", "_selected_action": [webhook.pk]},
        follow=True,
    )

    webhook.refresh_from_db()
    assert webhook.secret != old
    assert webhook.secret.startswith("whsec_")
    assert webhook.secret in response.content.decode()  # shown once, to copy
    assert old not in webhook.secret_encrypted  # stored encrypted


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[::ffff:192.168.0.1]/hooks",
        "https://localhost:6379/",
    ],
)
@pytest.mark.django_db
def test_an_endpoint_on_a_private_address_is_refused(url):
    from django.core.exceptions import ValidationError

    webhook = PartnerWebhookFactory.build(organiser=OrganiserFactory(), url=url)
    with pytest.raises(ValidationError) as refused:
        webhook.full_clean()
    assert "public address" in str(refused.value)


@pytest.mark.django_db
def test_a_name_resolving_to_a_private_address_is_not_called(
    session, ticket_type, django_capture_on_commit_callbacks, mocked, monkeypatch
):
    import socket

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "partner.example.com":  # a rebinding attacker's name
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    webhook = PartnerWebhookFactory(
        organiser=session.event.organiser, url=URL, events=["booking.confirmed"]
    )

    _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    assert len(mocked.calls) == 0  # nothing left the building
    delivery = PartnerWebhookDelivery.objects.get(webhook=webhook)
    assert delivery.status != Status.SUCCEEDED
    assert "private address" in delivery.last_error


@pytest.mark.django_db
def test_a_delivery_that_could_not_be_enqueued_is_sent_by_the_sweep(
    session, ticket_type, django_capture_on_commit_callbacks, mocked, broker
):
    """Issue 16: the broker is down when the booking is confirmed. The confirmation
    stands, the delivery row and its outbox row are written with it, and the
    outbox's beat dispatch sends it once."""
    PartnerWebhookFactory(
        organiser=session.event.organiser, url=URL, events=["booking.confirmed"]
    )
    mocked.post(URL, status=204)

    booking = _confirmed(session, ticket_type, django_capture_on_commit_callbacks)

    assert booking.status == booking.Status.CONFIRMED
    delivery = PartnerWebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.PENDING, 0)
    assert len(mocked.calls) == 0
    # Its outbox row was committed with it; the kick was lost with the broker.
    [message] = OutboxMessage.objects.filter(kind=services.DELIVERY_KIND)
    assert message.status == OutboxMessage.Status.PENDING

    broker.up()
    assert outbox_dispatch_task.apply().get() >= 1  # beat's run, 30 s later

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SUCCEEDED, 1)
    assert len(mocked.calls) == 1
    assert outbox.dispatch(kinds=[services.DELIVERY_KIND]) == 0


@pytest.mark.django_db
def test_deliveries_oldest_due_measures_the_backlog():
    webhook = PartnerWebhookFactory(url=URL)
    now = timezone.now()
    for status, due in (
        (Status.PENDING, now - dt.timedelta(minutes=7)),
        (Status.FAILED, now + dt.timedelta(minutes=5)),  # backing off: not due
        (Status.SUCCEEDED, None),
    ):
        PartnerWebhookDelivery.objects.create(
            webhook=webhook,
            event="booking.confirmed",
            payload={},
            status=status,
            next_attempt_at=due,
        )

    assert services.deliveries_oldest_due(now) == now - dt.timedelta(minutes=7)
    PartnerWebhookDelivery.objects.filter(status=Status.PENDING).delete()
    assert services.deliveries_oldest_due(now) is None
