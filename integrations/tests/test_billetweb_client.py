"""BilletwebClient against the fake Billetweb: parsing, filters and failure modes."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from integrations.platforms.base import (
    ExternalAuthError,
    ExternalOrder,
    ExternalRejected,
    ExternalTicket,
    ExternalUnavailable,
    ListingRef,
    MalformedResponse,
    Places,
    PlatformCredentials,
)
from integrations.platforms.billetweb import BilletwebClient
from integrations.tests.fakes.billetweb_server import billetweb_fake  # noqa: F401

UTC = dt.UTC


@pytest.fixture
def fake(billetweb_fake):  # noqa: F811
    return billetweb_fake


@pytest.fixture
def client(fake):
    return BilletwebClient(fake.credentials, rate_key="test-billetweb")


@pytest.fixture
def event(fake):
    return fake.add_event()


# -- places ------------------------------------------------------------------------


def test_places_of_a_date(fake, client, event):
    fake.add_date(event, "501", quota=120, total_sales=7)
    fake.add_date(event, "502", quota=80, total_sales=37, end="2020-01-01 22:00:00")

    places = client.fetch_places(ListingRef(event, "502"))

    assert places == Places(total=80, sold=37)
    (call,) = fake.calls("/dates")
    assert call.path == f"/api/event/{event}/dates"
    assert call.query["past"] == "1"  # 502 is over: only past=1 returns it
    assert (call.query["user"], call.query["key"], call.query["version"]) == (
        fake.user,
        fake.key,
        "1",
    )


@pytest.mark.parametrize("quota", ["", "0"])
def test_date_without_quota_has_no_total(fake, client, event, quota):
    fake.add_date(event, "501", quota=quota, total_sales=3)

    assert client.fetch_places(ListingRef(event, "501")) == Places(None, 3)


def test_single_session_event_sums_rate_quotas(fake, client):
    event = fake.add_event(multiple=False)
    fake.add_rate(event, "11", quota=50)
    fake.add_rate(event, "12", quota="30")

    assert client.fetch_places(ListingRef(event)) == Places(total=80, sold=None)
    assert client.fetch_places(ListingRef(event, ticket_ids=("12",))).total == 30
    assert not fake.calls("/dates")
    assert len(fake.calls(f"/api/event/{event}/tickets")) == 2


def test_single_session_event_with_an_unlimited_rate(fake, client):
    event = fake.add_event(multiple=False)
    fake.add_rate(event, "11", quota=50)
    fake.add_rate(event, "12", quota="")

    assert client.fetch_places(ListingRef(event)) == Places(total=None, sold=None)


def test_date_not_found(fake, client, event):
    fake.add_date(event, "501")

    with pytest.raises(ExternalRejected, match=f"event {event} has no date 999"):
        client.fetch_places(ListingRef(event, "999"))


# -- orders ------------------------------------------------------------------------


def test_orders_grouped_with_refunded_ticket_inactive(fake, client, event):
    date, other = fake.add_date(event, "501"), fake.add_date(event, "502")
    rate = fake.add_rate(event, "11", name="Plein tarif")
    first = fake.sell(
        event,
        date,
        2,
        order_id="9001",
        firstname="Léa",
        name="Dupont",
        email="lea@example.fr",
        price="12.50",
        order_date="2026-03-02 10:41:36",
    )
    fake.sell(event, date, 1, order_id="9002", price="10.00")
    fake.sell(event, other, 1, order_id="9003")
    refunded, kept = fake.attendee_ids(first)
    fake.refund(refunded)

    orders = client.fetch_orders(ListingRef(event, date), since=None)

    assert [order.external_id for order in orders] == ["9001", "9002"]
    assert orders[0] == ExternalOrder(
        external_id="9001",
        tickets=(
            ExternalTicket(
                refunded, False, ticket_type_id=rate, ticket_type_name="Plein tarif"
            ),
            ExternalTicket(
                kept, True, ticket_type_id=rate, ticket_type_name="Plein tarif"
            ),
        ),
        buyer_name="Léa Dupont",
        buyer_email="lea@example.fr",
        currency="",
        total_minor=2500,
        placed_at=dt.datetime(2026, 3, 2, 9, 41, 36, tzinfo=UTC),
    )
    assert orders[1].total_minor == 1000
    assert fake.dates[event][date]["total_sales"] == "2"


def test_incremental_fetch_sends_unix_seconds_and_session(fake, client, event):
    date = fake.add_date(event, "501")
    fake.add_attendee(event, date, order_id="1", last_update="2026-03-01 09:59:59")
    fake.add_attendee(event, date, order_id="2", last_update="2026-03-01 10:00:00")
    since = dt.datetime(2026, 3, 1, 9, 0, 0, 900_000, tzinfo=UTC)  # 10:00 in Paris

    orders = client.fetch_orders(ListingRef(event, date), since=since)

    assert [order.external_id for order in orders] == ["2"]
    (call,) = fake.calls("/attendees")
    assert call.query["last_update"] == "1772355600"  # floored, never rounded up
    assert call.query["session"] == date


def test_full_fetch_sends_no_filter_for_single_session(fake, client):
    event = fake.add_event(multiple=False)
    fake.sell(event, "", 2, order_id="77")
    fake.add_attendee(event, "555", order_id="78")  # an odd row of another session

    orders = client.fetch_orders(ListingRef(event), since=None)

    assert [(o.external_id, len(o.tickets)) for o in orders] == [("77", 2)]
    (call,) = fake.calls("/attendees")
    assert "last_update" not in call.query
    assert "session" not in call.query


def test_ticket_ids_filter(fake, client, event):
    date = fake.add_date(event, "501")
    adult, child = fake.add_rate(event, "11"), fake.add_rate(event, "12")
    fake.sell(event, date, 1, order_id="1", ticket_id=adult)
    fake.sell(event, date, 1, order_id="2", ticket_id=child)
    fake.add_attendee(event, date, order_id="3", ticket_id=adult)
    fake.add_attendee(event, date, order_id="3", ticket_id=child)

    orders = client.fetch_orders(ListingRef(event, date, (child,)), since=None)

    assert [o.external_id for o in orders] == ["2", "3"]
    assert {t.ticket_type_id for o in orders for t in o.tickets} == {child}


@pytest.mark.parametrize(
    ("paris", "utc_hour", "offset_hours"),
    [("2026-07-14 20:30:00", 18, 2), ("2026-01-10 20:30:00", 19, 1)],
)
def test_paris_time_made_aware(fake, client, event, paris, utc_hour, offset_hours):
    date = fake.add_date(event, "501")
    fake.add_attendee(event, date, order_date=paris)

    (order,) = client.fetch_orders(ListingRef(event, date), since=None)

    assert order.placed_at.utcoffset() == dt.timedelta(hours=offset_hours)
    assert order.placed_at.astimezone(UTC).hour == utc_hour


@pytest.mark.parametrize("sentinel", ["0000-00-00 00:00:00", ""])
def test_no_datetime_sentinels(fake, client, event, sentinel):
    date = fake.add_date(event, "501")
    attendee = fake.add_attendee(event, date)
    fake.update_attendee(attendee, order_date=sentinel, last_update=sentinel)

    (order,) = client.fetch_orders(ListingRef(event, date), since=None)

    assert order.placed_at is None


# -- failures ----------------------------------------------------------------------


def test_wrong_credentials(fake, event):
    fake.add_date(event, "501")
    client = BilletwebClient(
        PlatformCredentials(token="wrong", account_id=fake.user), rate_key="t"
    )

    with pytest.raises(ExternalAuthError, match="unauthorized"):
        client.fetch_places(ListingRef(event, "501"))
    fake.error_status = 403
    with pytest.raises(ExternalAuthError):
        client.fetch_places(ListingRef(event, "501"))


def test_rate_limiting_body(fake, client, event):
    fake.rate_limiting = True

    with pytest.raises(ExternalUnavailable) as raised:
        client.fetch_orders(ListingRef(event, "501"), since=None)
    assert raised.value.retry_after == 60


def test_other_error_body_is_a_rejection(fake, client, event):
    fake.error_next("invalid_parameter", "Unknown session")

    with pytest.raises(ExternalRejected, match="invalid_parameter") as raised:
        client.fetch_places(ListingRef(event, "1"))
    assert not isinstance(raised.value, ExternalAuthError)


@pytest.mark.parametrize("fault", ["html", "malformed"])
def test_body_not_json(fake, client, event, fault):
    fake.fail_next(fault)

    with pytest.raises(MalformedResponse):
        client.fetch_places(ListingRef(event, "501"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_sales", 5), ("total_sales", "five"), ("quota", None), ("id", 501)],
)
def test_date_field_of_wrong_shape(fake, client, event, field, value):
    fake.add_date(event, "501")
    fake.update_date(event, "501", **{field: value})

    with pytest.raises(MalformedResponse, match="dates"):
        client.fetch_places(ListingRef(event, "501"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("order_date", "02/03/2026 10:41"), ("order_price", 12.5), ("disabled", None)],
)
def test_attendee_field_of_wrong_shape(fake, client, event, field, value):
    attendee = fake.add_attendee(event, fake.add_date(event, "501"))
    fake.update_attendee(attendee, **{field: value})

    with pytest.raises(MalformedResponse, match="attendees"):
        client.fetch_orders(ListingRef(event, "501"), since=None)


def test_server_error_once_then_success(fake, client, event):
    fake.add_date(event, "501", quota=10, total_sales=4)
    fake.fail_next("500")

    assert client.fetch_places(ListingRef(event, "501")) == Places(10, 4)
    assert [call.status for call in fake.calls("/dates")] == [500, 200]


def test_timeout(fake, client, event):
    fake.fail_always("timeout")

    with pytest.raises(ExternalUnavailable):
        client.fetch_places(ListingRef(event, "501"))


def test_key_never_logged(fake, client, event, caplog):
    caplog.set_level(logging.INFO)
    date = fake.add_date(event, "501")
    fake.sell(event, date, 1)
    fake.fail_next("500", "503")

    client.fetch_places(ListingRef(event, date))
    client.fetch_orders(ListingRef(event, date), since=None)
    fake.rate_limiting = True
    with pytest.raises(ExternalUnavailable):
        client.fetch_places(ListingRef(event, date))

    assert caplog.records
    assert fake.key not in caplog.text
    assert all(fake.key not in repr(vars(record)) for record in caplog.records)


def test_key_never_logged_on_connection_retries(fake, client, event, caplog):
    caplog.set_level(logging.INFO)
    fake.add_date(event, "501")
    fake.fail_next("reset")

    client.fetch_places(ListingRef(event, "501"))

    assert fake.key not in caplog.text
