"""HumanitixClient against the local Humanitix fake: parsed results, the requests
sent, and how faults surface."""

import datetime as dt
import logging
import time
from zoneinfo import ZoneInfo

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
from integrations.platforms.humanitix import HumanitixClient, iso_utc
from integrations.tests.fakes.humanitix_server import humanitix_fake  # noqa: F401

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def fake(humanitix_fake):  # noqa: F811
    humanitix_fake.now = T0
    return humanitix_fake


def client_for(fake, *, token=None, region=""):
    credentials = PlatformCredentials(token=token or fake.api_key, account_id=region)
    return HumanitixClient(credentials, rate_key="connection-1")


def listing_of(fake, event_id, *, date=0, ticket_ids=()):
    return ListingRef(event_id, fake.date_ids(event_id)[date], tuple(ticket_ids))


# -- places ------------------------------------------------------------------------


def test_places_from_total_capacity(fake):
    event_id = fake.add_event(total_capacity=250)
    fake.sell(event_id, fake.date_ids(event_id)[0], 3)

    assert client_for(fake).fetch_places(listing_of(fake, event_id)) == Places(
        250, None
    )
    [call] = fake.calls()
    assert call.path == f"/v1/events/{event_id}"
    assert call.headers["x-api-key"] == fake.api_key
    assert call.query == {}


def test_places_without_capacity_is_unknown(fake):
    event_id = fake.add_event(total_capacity=None)
    assert client_for(fake).fetch_places(listing_of(fake, event_id)).total is None


def test_places_from_named_ticket_types(fake):
    event_id = fake.add_event(ticket_types=(("GA", "45.50", 100), ("VIP", "120", 20)))
    general, vip = fake.ticket_type_ids(event_id)
    fake.add_ticket_type(event_id, "Staff", "0", 30)
    gone = fake.add_ticket_type(event_id, "Early bird", "30", 50, deleted=True)
    client = client_for(fake)

    places = client.fetch_places(listing_of(fake, event_id, ticket_ids=[general, gone]))
    assert places == Places(100, None)
    both = listing_of(fake, event_id, ticket_ids=[general, vip])
    assert client.fetch_places(both).total == 120
    unknown = listing_of(fake, event_id, ticket_ids=["ab" * 12])
    with pytest.raises(ExternalRejected, match="none of the ticket types"):
        client.fetch_places(unknown)


@pytest.mark.parametrize("case", ["missing", "deleted"])
def test_places_rejects_missing_or_deleted_date(fake, case):
    event_id = fake.add_event()
    date_id = fake.add_date(event_id, deleted=True) if case == "deleted" else "cd" * 12

    with pytest.raises(ExternalRejected, match=date_id):
        client_for(fake).fetch_places(ListingRef(event_id, date_id))


def test_region_is_sent_as_override_location(fake):
    event_id = fake.add_event()
    client_for(fake, region="AU").fetch_places(listing_of(fake, event_id))
    assert fake.calls()[0].query == {"overrideLocation": "AU"}


# -- orders -------------------------------------------------------------------------


def test_orders_follow_every_page(fake):
    event_id = fake.add_event(dates=2)
    date_id, other_date = fake.date_ids(event_id)
    for minute in range(125):
        fake.sell(event_id, date_id, 2, at=T0 + dt.timedelta(minutes=minute))
    fake.sell(event_id, other_date, 5)

    orders = client_for(fake).fetch_orders(listing_of(fake, event_id), since=None)

    assert len(orders) == 125
    assert sum(len(o.tickets) for o in orders) == 250
    assert [o.placed_at for o in orders] == sorted(o.placed_at for o in orders)
    ticket_calls = fake.calls(f"/v1/events/{event_id}/tickets")
    assert [c.query for c in ticket_calls] == [
        {"eventDateId": date_id, "page": str(page), "pageSize": "100"}
        for page in (1, 2, 3)
    ]
    order_calls = fake.calls(f"/v1/events/{event_id}/orders")
    assert [c.query["page"] for c in order_calls] == ["1", "2"]


def test_since_is_sent_in_utc_and_limits_the_fetch(fake):
    event_id = fake.add_event()
    date_id = fake.date_ids(event_id)[0]
    fake.sell(event_id, date_id, 1, at=T0)
    recent, _ = fake.sell(
        event_id, date_id, 1, at=dt.datetime(2026, 11, 22, 10, 5, tzinfo=dt.UTC)
    )
    since = dt.datetime(
        2026, 11, 22, 21, 0, 0, 123456, tzinfo=ZoneInfo("Australia/Sydney")
    )

    orders = client_for(fake).fetch_orders(listing_of(fake, event_id), since=since)

    assert [o.external_id for o in orders] == [recent]
    for call in fake.calls("/tickets") + fake.calls("/orders"):
        assert call.query["since"] == "2026-11-22T10:00:00.123Z"
    with pytest.raises(ValueError, match="aware"):
        iso_utc(dt.datetime(2026, 11, 22, 10, 0))  # noqa: DTZ001


def test_cancelled_and_refunded_tickets_are_inactive(fake):
    event_id = fake.add_event()
    date_id = fake.date_ids(event_id)[0]
    kept, (cancelled, active) = fake.sell(event_id, date_id, 2)
    refunded, _ = fake.sell(event_id, date_id, 3, at=T0 + dt.timedelta(hours=1))
    fake.cancel_ticket(cancelled)
    fake.refund_order(refunded)

    orders = {
        o.external_id: o
        for o in client_for(fake).fetch_orders(listing_of(fake, event_id), since=None)
    }

    assert {t.external_id: t.is_active for t in orders[kept].tickets} == {
        cancelled: False,
        active: True,
    }
    assert [t.is_active for t in orders[refunded].tickets] == [False] * 3


def test_ticket_ids_filter(fake):
    event_id = fake.add_event(ticket_types=(("GA", "45.50", 100), ("VIP", "120", 20)))
    date_id = fake.date_ids(event_id)[0]
    general, vip = fake.ticket_type_ids(event_id)
    fake.sell(event_id, date_id, 2, ticket_type_id=general)
    vip_order, vip_tickets = fake.sell(event_id, date_id, 1, ticket_type_id=vip)

    listing = listing_of(fake, event_id, ticket_ids=[vip])
    orders = client_for(fake).fetch_orders(listing, since=None)

    assert [o.external_id for o in orders] == [vip_order]
    [ticket] = orders[0].tickets
    assert (ticket.external_id, ticket.ticket_type_id, ticket.ticket_type_name) == (
        vip_tickets[0],
        vip,
        "VIP",
    )
    assert "ticketTypeId" not in fake.calls("/tickets")[0].query


def test_order_money_buyer_and_dates(fake):
    event_id = fake.add_event(currency="AUD")
    yen_event = fake.add_event(currency="JPY", ticket_types=(("Seat", "1500", 10),))
    buyer = {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"}
    order_id, _ = fake.sell(event_id, fake.date_ids(event_id)[0], 1, **buyer)
    fake.sell(yen_event, fake.date_ids(yen_event)[0], 2)
    client = client_for(fake)

    [order] = client.fetch_orders(listing_of(fake, event_id), since=None)
    [yen] = client.fetch_orders(listing_of(fake, yen_event), since=None)

    assert (order.external_id, order.currency, order.total_minor) == (
        order_id,
        "AUD",
        4550,
    )
    assert (order.buyer_name, order.buyer_email) == ("Ada Lovelace", "ada@example.org")
    assert order.placed_at == T0
    assert order.placed_at.tzinfo is not None
    assert (yen.currency, yen.total_minor) == ("JPY", 3000)


def test_order_not_changed_since_keeps_the_ticket_buyer(fake):
    event_id = fake.add_event()
    date_id = fake.date_ids(event_id)[0]
    order_id, (ticket_id,) = fake.sell(
        event_id, date_id, 1, first_name="Grace", last_name="Hopper"
    )
    fake.cancel_ticket(ticket_id, at=T0 + dt.timedelta(days=1))

    since = T0 + dt.timedelta(hours=1)
    [order] = client_for(fake).fetch_orders(listing_of(fake, event_id), since=since)

    assert (order.external_id, order.buyer_name, order.buyer_email) == (
        order_id,
        "Grace Hopper",
        "",
    )
    assert order.total_minor is None
    assert order.placed_at == T0
    assert not order.tickets[0].is_active


def test_no_tickets_means_no_orders_call(fake):
    event_id = fake.add_event()
    assert client_for(fake).fetch_orders(listing_of(fake, event_id), since=None) == []
    assert fake.calls("/orders") == []


# -- errors and faults ----------------------------------------------------------------


def test_wrong_key_is_an_auth_error(fake):
    event_id = fake.add_event()
    with pytest.raises(ExternalAuthError) as caught:
        client_for(fake, token="wrong-key").fetch_places(listing_of(fake, event_id))
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value)


def test_unknown_query_parameter_is_rejected(fake):
    event_id = fake.add_event()
    fake.sell(event_id, fake.date_ids(event_id)[0])
    client = client_for(fake)
    client.api.params["expand"] = "order"  # as if a default crept in

    with pytest.raises(ExternalRejected) as caught:
        client.fetch_orders(listing_of(fake, event_id), since=None)
    assert not isinstance(caught.value, ExternalAuthError)
    assert caught.value.status == 400
    assert "expand" in str(caught.value)
    assert fake.calls()[0].status == 400


@pytest.mark.parametrize("fault", ["malformed", "html"])
def test_unreadable_body_is_malformed(fake, fault):
    event_id = fake.add_event()
    fake.fail_next(fault)
    with pytest.raises(MalformedResponse):
        client_for(fake).fetch_places(listing_of(fake, event_id))


def _break(store, field, value):
    for record in store.values():
        record[field] = value


@pytest.mark.parametrize(
    ("store", "field", "value", "call"),
    [
        ("events", "dates", None, "fetch_places"),
        ("events", "totalCapacity", "lots", "fetch_places"),
        ("tickets", "_id", 12345, "fetch_orders"),
        ("tickets", "status", None, "fetch_orders"),
        ("orders", "createdAt", "yesterday", "fetch_orders"),
        ("orders", "totals", {"total": "n/a"}, "fetch_orders"),
        ("orders", "totals", {"total": "NaN"}, "fetch_orders"),
    ],
)
def test_wrong_shape_is_malformed(fake, store, field, value, call):
    event_id = fake.add_event()
    fake.sell(event_id, fake.date_ids(event_id)[0], 2)
    listing = listing_of(fake, event_id)
    _break(getattr(fake, store), field, value)
    client = client_for(fake)
    fetch = (
        client.fetch_places
        if call == "fetch_places"
        else lambda listing: client.fetch_orders(listing, since=None)
    )

    with pytest.raises(MalformedResponse):
        fetch(listing)


def test_one_server_error_is_retried(fake):
    event_id = fake.add_event(total_capacity=80)
    fake.fail_next("500")
    assert client_for(fake).fetch_places(listing_of(fake, event_id)).total == 80
    assert [c.status for c in fake.calls()] == [500, 200]


def test_rate_limit_honours_retry_after(fake):
    event_id = fake.add_event()
    fake.sell(event_id, fake.date_ids(event_id)[0])
    fake.retry_after = 1
    fake.fail_next("429")

    started = time.monotonic()
    orders = client_for(fake).fetch_orders(listing_of(fake, event_id), since=None)

    assert time.monotonic() - started >= fake.retry_after
    assert len(orders) == 1
    assert [c.status for c in fake.calls("/tickets")] == [429, 200]


def test_timeout_is_unavailable(fake):
    event_id = fake.add_event()
    fake.fail_always("timeout")
    with pytest.raises(ExternalUnavailable):
        client_for(fake).fetch_places(listing_of(fake, event_id))


def test_api_key_never_logged(fake, caplog):
    caplog.set_level(logging.INFO)
    event_id = fake.add_event()
    fake.sell(event_id, fake.date_ids(event_id)[0], 2)
    listing = listing_of(fake, event_id)
    errors = []

    client_for(fake, region="AU").fetch_orders(listing, since=T0)
    for client in (client_for(fake, token="hx_wrong_key_0000"), client_for(fake)):
        if client.credentials.token == fake.api_key:
            client.api.params["expand"] = "order"
        with pytest.raises(ExternalRejected) as caught:
            client.fetch_places(listing)
        errors.append(str(caught.value))

    assert len(caplog.records) >= 4
    logged = caplog.text + repr([r.__dict__ for r in caplog.records]) + repr(errors)
    assert fake.api_key not in logged
    assert "hx_wrong_key_0000" not in logged
