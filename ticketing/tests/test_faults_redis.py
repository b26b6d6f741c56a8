"""Redis down in the middle of selling: a `redis-server` of the test's own serves the
cache and the broker, and is really stopped. Pages and the partner API keep selling
from PostgreSQL (availability computed, the cache skipped); limits on writes from
unknown clients fall back to a per-process share, reads and authenticated API keys
stay open (README, "Redis down"); work that could not be enqueued is stored and swept
into the broker once Redis is back.
"""

import pytest
import redis
from django.core import mail

from bookings.models import Booking
from bookings.services.inventory import inventory_check
from events.models import Session
from events.tests.factories import SessionFactory, TicketTypeFactory
from notifications.models import Notification
from partner_api.tests.api_fixtures import api_key, order, post
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401, F811
from payments.tests.paid_bookings import stripe_paid_booking
from ticketing import outbox
from ticketing.models import OutboxMessage
from ticketing.tests.redis_server import redis_server_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis(settings, redis_server):
    """Cache and broker on the test's own Redis; tasks sent to it, not run inline."""
    from ticketing.celery import app

    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": redis_server.url(0),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_server.url(1)
    app._pool = None
    app.amqp._producer_pool = None
    yield redis_server
    app.conf.task_always_eager, app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


def _checkout(client, session, ticket_type, email, quantity=2):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": email,
        "token": f"tok-{email}",
        "action": "book",
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    return client.post(f"/e/{session.event.slug}/checkout/", data)


def test_pages_and_api_keep_selling_with_redis_down(client, own_redis):
    session = SessionFactory(capacity=10)
    paid = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    plain = api_key(session.event.organiser)
    shop = {"session": session, "regular": paid}
    # Warm the cache, then lose Redis with what it held.
    assert client.get(f"/e/{session.event.slug}/").status_code == 200
    own_redis.stop()

    page = client.get(f"/e/{session.event.slug}/")
    assert page.status_code == 200
    assert "10" in page.content.decode()  # seats left, computed from PostgreSQL

    response = _checkout(client, session, paid, "ada@example.org")
    assert response.status_code == 302, response.content.decode()[:500]
    availability = client.get(
        f"/api/v1/sessions/{session.pk}/availability/",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert availability.status_code == 200
    assert availability.json()["available"] == 8
    api = post(client, "/api/v1/bookings/", order(shop, 3), plain, "key-1")
    assert api.status_code == 201, api.content

    bookings = Booking.objects.order_by("pk")
    assert [(b.channel, b.status, b.quantity) for b in bookings] == [
        (Booking.Channel.WEB, Booking.Status.PENDING, 2),
        (Booking.Channel.API, Booking.Status.PENDING, 3),
    ]
    assert client.get(f"/e/{session.event.slug}/").status_code == 200
    lookup = client.post(
        "/b/lookup/", {"reference": bookings[0].reference, "email": "ada@example.org"}
    )
    assert lookup.status_code in (200, 302)
    assert inventory_check() == []
    session.refresh_from_db()
    assert session.sold_count == 0


def test_checkout_writes_fail_closed_to_a_per_process_share_with_redis_down(
    client, own_redis, settings
):
    """Holds and seats per address and email: each process allows its share of the
    limit (limit / PROVIDER_QUOTA_PROCESSES), so a flood stays bounded while Redis
    is down; reads stay open."""
    settings.PROVIDER_QUOTA_PROCESSES = 4
    settings.CHECKOUT_HOLDS_PER_IP_PER_HOUR = 8  # a share of 2 per process
    settings.CHECKOUT_SEATS_PER_EMAIL_PER_HOUR = 12  # a share of 3 seats
    session = SessionFactory(capacity=50)
    paid = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    own_redis.stop()

    from_one_address = [
        _checkout(client, session, paid, f"buyer{n}@example.org", 1).status_code
        for n in range(4)
    ]
    other = {"REMOTE_ADDR": "198.51.100.7"}
    client.defaults.update(other)
    seats = [  # one email in any case: its own checkout token each time
        _checkout(client, session, paid, email, 2).status_code
        for email in ("many@example.org", "MANY@example.org")
    ]

    assert from_one_address == [302, 302, 429, 429]
    # 2 seats, then 2 more would make 4 of a share of 3; the hold that was
    # refused gives its seats back.
    assert seats == [302, 429]
    assert Booking.objects.filter(status=Booking.Status.PENDING).count() == 3
    for _ in range(20):  # reads are not limited, Redis or not
        assert client.get(f"/e/{session.event.slug}/").status_code == 200


def test_lookup_mails_and_stored_rejections_stay_bounded_with_redis_down(
    client, own_redis, settings
):
    from bookings.tests.factories import BookingFactory
    from ticketing.inbound import rejection_may_be_stored

    settings.PROVIDER_QUOTA_PROCESSES = 4
    settings.LOOKUP_PER_EMAIL_PER_HOUR = 4  # a share of 1
    settings.WEBHOOK_REJECTIONS_PER_MINUTE = 8  # a share of 2
    booking = BookingFactory(buyer_email="ada@example.org")
    own_redis.stop()

    lookups = [
        client.post(
            "/b/lookup/", {"reference": booking.reference, "email": "ada@example.org"}
        ).status_code
        for _ in range(3)
    ]
    stored = [rejection_may_be_stored("stripe", "203.0.113.7") for _ in range(4)]

    assert lookups[1:] == [429, 429]
    assert lookups[0] != 429
    # One lookup email written (the outbox sends it once Redis is back), not three.
    assert Notification.objects.filter(booking=booking).count() == 1
    assert stored == [True, True, False, False]


def test_an_authenticated_api_key_is_a_known_client_its_throttle_stays_open(
    client, own_redis, monkeypatch
):
    """The partner API throttle counts per API key, after the key authenticated: a
    known client with a contract, not an anonymous flood. With Redis down it is let
    through (`partner_api.throttling`), so partners keep selling."""
    from partner_api.auth import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1/min"})
    session = SessionFactory(capacity=10)
    paid = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    plain = api_key(session.event.organiser)
    shop = {"session": session, "regular": paid}
    own_redis.stop()

    answers = [
        post(client, "/api/v1/bookings/", order(shop, 1), plain, f"k{n}").status_code
        for n in range(3)
    ]

    assert answers == [201, 201, 201]
    assert Booking.objects.filter(channel=Booking.Channel.API).count() == 3


def test_work_written_while_redis_is_down_is_done_when_it_returns(client, own_redis):
    """The confirmation email is an outbox row written with the sale; the on-commit
    kick to the broker fails with Redis down; beat's dispatch sends it once Redis
    (and so the broker) is back."""
    session = SessionFactory(capacity=10)
    free = TicketTypeFactory(event=session.event, price_minor=0)
    own_redis.stop()

    response = _checkout(client, session, free, "ada@example.org", 1)

    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.tickets.count() == 1
    notification = Notification.objects.get(booking=booking, template="confirmation")
    assert notification.status == Notification.Status.QUEUED
    row = OutboxMessage.objects.get(key=f"notification:{notification.pk}")
    assert (row.status, row.attempts) == (OutboxMessage.Status.PENDING, 0)
    assert Session.objects.get(pk=session.pk).sold_count == 1
    assert mail.outbox == []

    own_redis.start()  # empty: the kick that failed is nowhere in the broker
    queue = redis.Redis.from_url(own_redis.url(1))
    assert queue.llen("celery") == 0

    outbox.dispatch()  # what beat's ticketing.tasks.outbox_dispatch runs

    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.DONE
    assert [message.to for message in mail.outbox] == [["ada@example.org"]]


def test_provider_quota_falls_back_to_a_per_process_share(own_redis, settings):
    from ticketing.lib.http_errors import ExternalUnavailable
    from ticketing.lib.ratelimit import RateLimit, RateLimiter

    settings.PROVIDER_QUOTA_PROCESSES = 4
    limiter = RateLimiter("fake-platform", RateLimit(40, 3600), max_wait=0)
    limiter.acquire()  # counted in Redis
    own_redis.stop()

    for _ in range(10):  # this process's share: 40 / 4
        limiter.acquire()
    with pytest.raises(ExternalUnavailable):
        limiter.acquire()


def test_a_paid_booking_cancelled_with_redis_down_is_refunded_once_it_returns(
    client,
    own_redis,
    stripe_fake,  # noqa: F811
    settings,
):
    from payments.models import Refund
    from payments.services.cancel_refunds import KIND

    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    booking, payment = stripe_paid_booking(stripe_fake)
    plain = api_key(booking.organiser)
    own_redis.stop()

    response = post(
        client, f"/api/v1/bookings/{booking.reference}/cancel/", {}, plain, "c1"
    )

    assert response.status_code == 200, response.content
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert not Refund.objects.exists()
    # The refund is owed in PostgreSQL, committed with the cancellation: no broker
    # was needed, and beat's dispatch pays it once Redis is back.
    row = OutboxMessage.objects.get(kind=KIND)
    assert row.payload == {"booking_id": booking.pk}
    assert (row.status, row.attempts) == (OutboxMessage.Status.PENDING, 0)

    own_redis.start()
    outbox.dispatch()  # what beat's ticketing.tasks.outbox_dispatch runs
    outbox.dispatch()  # a second beat tick pays nothing more

    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.DONE
    refund = Refund.objects.get(payment=payment)
    assert (refund.status, refund.amount_minor) == (Refund.Status.SUCCEEDED, 4500)
    assert stripe_fake.calls["refunds.create"] == 1
