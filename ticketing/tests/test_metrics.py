"""`/metrics`: behind METRICS_TOKEN like `/healthz/full`, and what it counts."""

import datetime as dt

import pytest
import responses
from prometheus_client import REGISTRY

from bookings.models import Booking
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.tests.api_fixtures import api_key, order, post
from ticketing import health, sentry
from ticketing.lib.http import ExternalApi, sessions_reset
from ticketing.tasks import worker_heartbeat_task

TOKEN = "metrics-test-token"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.django_db
def test_metrics_is_404_without_a_token_and_401_with_a_wrong_one(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.django_db(transaction=True)
def test_holds_sales_lock_waits_and_checkout_latency_by_channel(client, settings):
    settings.METRICS_TOKEN = TOKEN
    session = SessionFactory(capacity=10)
    paid = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    free = TicketTypeFactory(event=session.event, price_minor=0, max_per_order=10)
    before = {
        "web_holds": sample("ticketing_holds_total", channel="web"),
        "api_holds": sample("ticketing_holds_total", channel="api"),
        "web_sales": sample("ticketing_sales_total", channel="web"),
        "web_seats": sample("ticketing_seats_sold_total", channel="web"),
        "locks": sample("ticketing_inventory_lock_wait_seconds_count"),
        "web_checkouts": sample("ticketing_checkout_seconds_count", channel="web"),
        "api_checkouts": sample("ticketing_checkout_seconds_count", channel="api"),
    }

    for ticket_type, quantity, email in (
        (paid, 2, "a@example.org"),
        (free, 3, "b@x.org"),
    ):
        data = {
            "session": session.pk,
            f"qty_{ticket_type.pk}": quantity,
            "buyer_name": "Ada",
            "buyer_email": email,
            "token": f"tok-{email}",
            "action": "book",
        }
        data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
        assert (
            client.post(f"/e/{session.event.slug}/checkout/", data).status_code == 302
        )
    shop = {"session": session, "regular": paid}
    plain = api_key(session.event.organiser)
    assert (
        post(client, "/api/v1/bookings/", order(shop, 1), plain, "k").status_code == 201
    )

    assert Booking.objects.count() == 3
    assert sample("ticketing_holds_total", channel="web") == before["web_holds"] + 1
    assert sample("ticketing_holds_total", channel="api") == before["api_holds"] + 1
    assert sample("ticketing_sales_total", channel="web") == before["web_sales"] + 1
    assert (
        sample("ticketing_seats_sold_total", channel="web") == before["web_seats"] + 3
    )
    assert sample("ticketing_inventory_lock_wait_seconds_count") == before["locks"] + 3
    assert (
        sample("ticketing_checkout_seconds_count", channel="web")
        == before["web_checkouts"] + 2
    )
    assert (
        sample("ticketing_checkout_seconds_count", channel="api")
        == before["api_checkouts"] + 1
    )
    text = scrape(client)
    assert 'ticketing_holds_total{channel="web"}' in text
    assert "ticketing_checkout_seconds_bucket" in text


@pytest.mark.django_db
@responses.activate
def test_external_calls_are_timed_and_failures_counted_by_platform(settings):
    settings.INTEGRATIONS_HTTP_RETRIES = 0
    sessions_reset()
    api = ExternalApi(
        service="fakeplatform",
        base_url="https://fake.example/api",
        rate_key="k",
        rate_limit=None,
    )
    responses.get("https://fake.example/api/ok", json={"ok": True})
    responses.get("https://fake.example/api/down", status=503)
    calls = sample("ticketing_external_call_seconds_count", platform="fakeplatform")
    failures = sample(
        "ticketing_external_call_failures_total",
        platform="fakeplatform",
        reason="http_503",
    )

    assert api.get_json("ok") == {"ok": True}
    with pytest.raises(Exception, match="503"):
        api.get_json("down")

    assert (
        sample("ticketing_external_call_seconds_count", platform="fakeplatform")
        == calls + 2
    )
    assert (
        sample(
            "ticketing_external_call_failures_total",
            platform="fakeplatform",
            reason="http_503",
        )
        == failures + 1
    )
    sessions_reset()


@pytest.mark.django_db
def test_celery_task_outcomes_are_counted():
    task = "ticketing.tasks.worker_heartbeat"
    before = sample("ticketing_celery_tasks_total", task=task, outcome="succeeded")
    worker_heartbeat_task.delay()
    assert (
        sample("ticketing_celery_tasks_total", task=task, outcome="succeeded")
        == before + 1
    )


@pytest.mark.django_db
def test_backlog_depth_and_age_are_read_at_scrape_time(client, settings, monkeypatch):
    settings.METRICS_TOKEN = TOKEN
    monkeypatch.setattr(health, "_backlogs", {})
    health.register_backlog(
        "test_rows",
        lambda now: now - dt.timedelta(seconds=90),
        depth=lambda now: 7,
    )

    text = scrape(client)

    age = [
        line for line in text.splitlines() if line.startswith("ticketing_backlog_age")
    ]
    assert len(age) == 1
    assert age[0].startswith('ticketing_backlog_age_seconds{backlog="test_rows"} 9')
    assert 'ticketing_backlog_depth{backlog="test_rows"} 7.0' in text


def test_sentry_events_lose_authorization_headers_and_keys():
    event = {
        "request": {
            "headers": {
                "Authorization": "Bearer tk_secret",
                "Cookie": "sessionid=abc",
                "User-Agent": "curl",
            },
            "cookies": {"sessionid": "abc"},
            "query_string": "key=tk_secret",
        },
        "extra": {"api_key": "tk_secret", "booking": {"stripe_secret": "sk", "n": 1}},
    }

    scrubbed = sentry.scrub(event, {})

    assert scrubbed["request"]["headers"] == {"User-Agent": "curl"}
    assert "cookies" not in scrubbed["request"]
    assert "tk_secret" not in str(scrubbed)
    assert scrubbed["extra"]["booking"] == {"stripe_secret": "[Filtered]", "n": 1}


@pytest.mark.django_db
def test_the_outbox_backlog_reports_its_depth(client, settings):
    from ticketing.tests.factories import OutboxMessageFactory

    settings.METRICS_TOKEN = TOKEN
    OutboxMessageFactory.create_batch(3)
    OutboxMessageFactory(status="done")

    text = scrape(client)

    assert 'ticketing_backlog_depth{backlog="outbox"} 3.0' in text
