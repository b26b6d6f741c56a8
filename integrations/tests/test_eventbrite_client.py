import datetime as dt
import logging
import time

import pytest

from integrations.platforms.base import (
    ExternalAuthError,
    ExternalRejected,
    ExternalUnavailable,
    ListingRef,
    MalformedResponse,
    Places,
    PlatformCredentials,
)
from integrations.platforms.eventbrite import EventbriteClient
from integrations.tests.fakes.eventbrite_server import eventbrite_fake  # noqa: F401

EVENT = "ev1"


@pytest.fixture
def fake(eventbrite_fake):  # noqa: F811
    eventbrite_fake.add_ticket_class(EVENT, "tc1", quantity_total=100, name="Adult")
    eventbrite_fake.add_ticket_class(EVENT, "tc2", quantity_total=50, name="Child")
    return eventbrite_fake


def client(fake, token=None):
    credentials = PlatformCredentials(token=fake.token if token is None else token)
    return EventbriteClient(credentials, rate_key="test-eventbrite")


def listing(*ticket_ids):
    return ListingRef(event_id=EVENT, ticket_ids=ticket_ids)


# -- places ------------------------------------------------------------------------


def test_places_sum_classes_and_skip_donations(fake):
    fake.add_ticket_class(
        EVENT, "don", quantity_total=999, quantity_sold=7, donation=True
    )
    fake.sell(EVENT, "tc1", 3)
    fake.sell(EVENT, "tc2", 2)

    assert client(fake).fetch_places(listing()) == Places(total=150, sold=5)
    (call,) = fake.requests
    assert call.path == f"/v3/events/{EVENT}/ticket_classes/"
    assert call.headers["authorization"] == f"Bearer {fake.token}"


def test_places_count_only_the_listing_classes(fake):
    fake.sell(EVENT, "tc1", 3)
    fake.sell(EVENT, "tc2", 2)

    assert client(fake).fetch_places(listing("tc2")) == Places(total=50, sold=2)


# -- orders ------------------------------------------------------------------------


def test_attendees_follow_continuation_over_three_pages(fake):
    fake.page_size = 2
    order_ids = [fake.sell(EVENT, "tc1", 1)["id"] for _ in range(5)]

    orders = client(fake).fetch_orders(listing(), since=None)

    assert [o.external_id for o in orders] == order_ids
    calls = fake.calls("/attendees/")
    assert len(calls) == 3
    tokens = [c.query.get("continuation") for c in calls]
    assert tokens[0] is None
    assert tokens[1]
    assert tokens[2]
    assert tokens[1] != tokens[2]
    assert set(tokens[1:]) <= set(fake.continuations)


def test_changed_since_is_sent_in_utc_and_filters(fake):
    fake.time = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    fake.sell(EVENT, "tc1", 1)
    fake.time = dt.datetime(2030, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    recent = fake.sell(EVENT, "tc1", 1)
    since = dt.datetime(
        2030, 1, 2, 3, 4, 5, 999, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )

    orders = client(fake).fetch_orders(listing(), since=since)

    assert fake.calls("/attendees/")[0].query == {
        "changed_since": "2030-01-02T01:04:05Z"
    }
    assert [o.external_id for o in orders] == [recent["id"]]


def test_refunded_and_cancelled_attendees_are_inactive(fake):
    kept = fake.sell(EVENT, "tc1", 1)["id"]
    refunded = fake.sell(EVENT, "tc1", 2)["id"]
    cancelled = fake.sell(EVENT, "tc1", 1)["id"]
    fake.refund_order(refunded)
    fake.cancel_order(cancelled)

    eventbrite = client(fake)
    orders = {o.external_id: o for o in eventbrite.fetch_orders(listing(), since=None)}

    assert [t.is_active for t in orders[kept].tickets] == [True]
    assert [t.is_active for t in orders[refunded].tickets] == [False, False]
    assert [t.is_active for t in orders[cancelled].tickets] == [False]
    assert eventbrite.fetch_places(listing("tc1")) == Places(total=100, sold=1)


def test_attendees_are_grouped_by_order(fake):
    fake.time = dt.datetime(2030, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    order = fake.sell(EVENT, "tc1", 3, email="grace@example.org", first_name="Grace")
    first_attendee = fake.attendees_of(order["id"])[0]
    first_attendee["quantity"] = 2
    fake.sell(EVENT, "tc2", 1)

    orders = client(fake).fetch_orders(listing(), since=None)

    assert len(orders) == 2
    grouped = orders[0]
    assert grouped.external_id == order["id"]
    assert [t.quantity for t in grouped.tickets] == [2, 1, 1]
    assert grouped.tickets[0].external_id == first_attendee["id"]
    assert {(t.ticket_type_id, t.ticket_type_name) for t in grouped.tickets} == {
        ("tc1", "Adult")
    }
    assert grouped.buyer_name == "Grace Lovelace"
    assert grouped.buyer_email == "grace@example.org"
    assert (grouped.currency, grouped.total_minor) == ("EUR", 7500)
    assert grouped.placed_at == dt.datetime(2030, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def test_orders_keep_only_the_listing_classes(fake):
    fake.sell(EVENT, "tc1", 1)
    child = fake.sell(EVENT, "tc2", 1)

    orders = client(fake).fetch_orders(listing("tc2"), since=None)

    assert [o.external_id for o in orders] == [child["id"]]


# -- webhook resources ---------------------------------------------------------------


def test_resource_event_id_of_order_attendee_and_event(fake):
    order = fake.sell(EVENT, "tc1", 1)
    attendee = fake.attendees_of(order["id"])[0]
    eventbrite = client(fake)

    order_url = fake.webhook_payload("order.placed", f"orders/{order['id']}/")[
        "api_url"
    ]
    assert eventbrite.fetch_resource_event_id(order_url) == EVENT
    attendee_path = f"events/{EVENT}/attendees/{attendee['id']}/"
    assert eventbrite.fetch_resource_event_id(fake.resource_url(attendee_path)) == EVENT
    assert (
        eventbrite.fetch_resource_event_id(fake.resource_url(f"events/{EVENT}/"))
        == EVENT
    )
    assert [c.path for c in fake.requests][0] == f"/v3/orders/{order['id']}/"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v3/orders/1/",
        "{api-endpoint-to-fetch-object-details}",
        "",
        "BASE/../v2/orders/1/",
    ],
)
def test_resource_outside_the_base_is_rejected_without_a_request(fake, url):
    url = url.replace("BASE", fake.url + "/v3")
    with pytest.raises(ExternalRejected):
        client(fake).fetch_resource_event_id(url)
    assert fake.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://www.eventbriteapi.com/v3evil/orders/1/",
        "https://www.eventbriteapi.com.evil.org/v3/orders/1/",
        "http://www.eventbriteapi.com/v3/orders/1/",
    ],
)
def test_production_base_is_matched_with_its_slash(settings, url):
    settings.EVENTBRITE_API_BASE = "https://www.eventbriteapi.com/v3"
    eventbrite = EventbriteClient(PlatformCredentials("t"), rate_key="test-eventbrite")
    with pytest.raises(ExternalRejected):
        eventbrite.fetch_resource_event_id(url)


def test_resource_without_an_event_is_malformed(fake):
    with pytest.raises(MalformedResponse):
        client(fake).fetch_resource_event_id(
            fake.resource_url("users/me/organizations/")
        )


# -- errors ------------------------------------------------------------------------


def test_wrong_token_is_an_auth_error(fake):
    with pytest.raises(ExternalAuthError):
        client(fake, token="revoked").fetch_places(listing())
    # Eventbrite answers 400 INVALID_AUTH: one token-only call confirms it.
    assert [c.status for c in fake.requests] == [400, 400]


def test_empty_token_is_an_auth_error(fake):
    with pytest.raises(ExternalAuthError):
        client(fake, token="").fetch_places(listing())


def test_401_is_an_auth_error_without_a_second_call(fake):
    fake.reject_next(401, "NO_AUTH")
    with pytest.raises(ExternalAuthError) as caught:
        client(fake).fetch_places(listing())
    assert caught.value.status == 401
    assert len(fake.requests) == 1


def test_other_400_with_a_good_token_stays_a_rejection(fake):
    fake.reject_next(400, "BAD_PAGE")
    with pytest.raises(ExternalRejected) as caught:
        client(fake).fetch_places(listing())
    assert not isinstance(caught.value, ExternalAuthError)
    assert [c.status for c in fake.requests] == [400, 200]


def test_unknown_event_is_rejected(fake):
    with pytest.raises(ExternalRejected) as caught:
        client(fake).fetch_orders(ListingRef(event_id="nope"), since=None)
    assert caught.value.status == 404
    assert not isinstance(caught.value, ExternalAuthError)


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_body_that_is_not_json_is_malformed(fake, kind):
    fake.fail_next(kind)
    with pytest.raises(MalformedResponse):
        client(fake).fetch_places(listing())


def test_wrong_shapes_are_malformed(fake):
    order = fake.sell(EVENT, "tc1", 1)
    del fake.attendees_of(order["id"])[0]["refunded"]
    fake.ticket_classes[EVENT]["tc2"]["quantity_total"] = "lots"
    eventbrite = client(fake)

    with pytest.raises(MalformedResponse):
        eventbrite.fetch_orders(listing(), since=None)
    with pytest.raises(MalformedResponse):
        eventbrite.fetch_places(listing())


def test_repeating_continuation_is_malformed(fake):
    fake.repeat_continuation = True
    with pytest.raises(MalformedResponse):
        client(fake).fetch_orders(listing(), since=None)
    assert len(fake.requests) == 2


# -- retries -----------------------------------------------------------------------


def test_503_once_is_retried(fake):
    fake.fail_next("503")
    assert client(fake).fetch_places(listing()) == Places(total=150, sold=0)
    assert [c.status for c in fake.requests] == [503, 200]


def test_429_waits_for_retry_after(fake):
    fake.retry_after = 1
    fake.fail_next("429")
    started = time.monotonic()
    assert client(fake).fetch_places(listing()) == Places(total=150, sold=0)
    assert time.monotonic() - started >= 0.9
    assert [c.status for c in fake.requests] == [429, 200]


def test_reset_once_is_retried(fake):
    fake.fail_next("reset")
    assert client(fake).fetch_places(listing()) == Places(total=150, sold=0)
    assert [c.status for c in fake.requests] == [0, 200]


def test_reset_always_is_unavailable(fake):
    fake.fail_always("reset")
    with pytest.raises(ExternalUnavailable):
        client(fake).fetch_places(listing())
    assert len(fake.requests) == 3  # the first try and INTEGRATIONS_HTTP_RETRIES


def test_token_never_reaches_the_logs(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.page_size = 1
    order = fake.sell(EVENT, "tc1", 2)
    eventbrite = client(fake)
    eventbrite.fetch_orders(listing(), since=None)
    eventbrite.fetch_resource_event_id(fake.resource_url(f"orders/{order['id']}/"))
    fake.fail_next("503", "503", "503")
    with pytest.raises(ExternalUnavailable):
        eventbrite.fetch_places(listing())

    assert len(caplog.records) >= 4
    assert fake.token not in caplog.text
    for record in caplog.records:
        assert fake.token not in repr(record.__dict__)
