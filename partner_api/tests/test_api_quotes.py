import datetime as dt

import pytest

from bookings.models import Booking
from events.models import Session
from events.tests.factories import TicketTypeFactory

from .api_fixtures import api_key, basket, book, get, money, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


# Availability


def test_availability_has_the_contract_shape(client, shop):
    book(client, shop, 3)
    response = get(
        client, f"/api/v1/sessions/{shop['session'].pk}/availability/", shop["plain"]
    )
    assert response.status_code == 200
    body = response.json()
    as_of = dt.datetime.fromisoformat(body.pop("as_of"))
    assert as_of.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))
    assert body == {
        "session": shop["session"].pk,
        "capacity": 10,
        "available": 7,
        "stale": False,
        "ticket_types": [
            {
                "id": shop["regular"].pk,
                "name": "Regular",
                "available": 7,
                "price": money(4500),
                "on_sale": True,
                "min_per_order": 1,
                "max_per_order": 10,
            }
        ],
        "max_tickets_per_order": 20,
    }


def test_group_minimum_and_maximum_are_in_availability_and_catalogue(client, shop):
    """A partner can tell that "Group (5 or more)" needs 5 before it is refused."""
    group = TicketTypeFactory(
        event=shop["session"].event,
        name="Group (5 or more)",
        min_per_order=5,
        max_per_order=20,
    )
    availability = get(
        client, f"/api/v1/sessions/{shop['session'].pk}/availability/", shop["plain"]
    ).json()
    [entry] = [t for t in availability["ticket_types"] if t["id"] == group.pk]
    assert (entry["min_per_order"], entry["max_per_order"]) == (5, 20)
    event = get(
        client, f"/api/v1/events/{shop['session'].event.slug}/", shop["plain"]
    ).json()
    [listed] = [t for t in event["ticket_types"] if t["id"] == group.pk]
    assert (listed["min_per_order"], listed["max_per_order"]) == (5, 20)
    assert event["max_tickets_per_order"] == 20
    schema = client.get("/api/schema/", {"format": "json"}).json()["components"][
        "schemas"
    ]
    for name in ("AvailabilityTicketTypeOutput", "TicketTypeOutput"):
        assert {"min_per_order", "max_per_order"} <= set(schema[name]["required"])
    for name in ("AvailabilityOutput", "EventOutput"):
        assert "max_tickets_per_order" in schema[name]["properties"]


def test_availability_lists_the_active_ticket_types_in_order_as_the_selector_does(
    client, shop
):
    """The endpoint's raw SQL must agree with `events.selectors.ticket_types_active`:
    a withdrawn ticket type is not offered, the rest come in display order."""
    from events.selectors import ticket_types_active

    event = shop["session"].event
    type(shop["regular"]).objects.filter(pk=shop["regular"].pk).update(position=5)
    first = TicketTypeFactory(event=event, name="Early", position=1)
    withdrawn = TicketTypeFactory(event=event, name="Withdrawn", is_active=False)
    availability = get(
        client, f"/api/v1/sessions/{shop['session'].pk}/availability/", shop["plain"]
    ).json()
    listed = [entry["id"] for entry in availability["ticket_types"]]
    assert withdrawn.pk not in listed
    assert listed[0] == first.pk
    assert listed == list(ticket_types_active(event).values_list("pk", flat=True))


def test_availability_of_a_paused_session_is_not_on_sale(client, shop):
    Session.objects.filter(pk=shop["session"].pk).update(
        sale_status=Session.SaleStatus.PAUSED
    )
    body = get(
        client, f"/api/v1/sessions/{shop['session'].pk}/availability/", shop["plain"]
    ).json()
    assert body["ticket_types"][0]["on_sale"] is False


def test_availability_auth_scope_and_other_organiser(client, shop):
    path = f"/api/v1/sessions/{shop['session'].pk}/availability/"
    assert get(client, path).status_code == 401
    checkin_only = api_key(shop["session"].event.organiser, scopes=("checkin",))
    assert get(client, path, checkin_only).status_code == 403
    for pk in (shop["other_session"].pk, 999999):
        response = get(client, f"/api/v1/sessions/{pk}/availability/", shop["plain"])
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


# Quotes


def test_quote_prices_the_basket_with_group_discount(client, shop):
    shop["regular"].group_min_quantity = 2
    shop["regular"].group_discount_percent = 10
    shop["regular"].save()
    response = post(client, "/api/v1/quotes/", basket(shop, 2), shop["plain"])
    assert response.status_code == 200
    body = response.json()
    assert body.pop("priced_at")
    assert body == {
        "session": shop["session"].pk,
        "subtotal": money(9000),
        "discount": money(900),
        "total": money(8100),
        # Added by the tax issue (additive): no tax rate, so no tax.
        "net": money(8100),
        "tax": money(0),
        "prices_include_tax": True,
        "lines": [
            {
                "ticket_type": shop["regular"].pk,
                "quantity": 2,
                "unit_price": money(4500),
                "discount": money(900),
                "total": money(8100),
                "rule": "group",
                "net": money(8100),
                "tax": money(0),
                "tax_rate": None,
            }
        ],
        "code": "",
    }
    assert not Booking.objects.exists()


def test_quote_needs_a_key_and_a_read_scope(client, shop):
    assert post(client, "/api/v1/quotes/", basket(shop)).status_code == 401
    sync_only = api_key(shop["session"].event.organiser, scopes=("sync",))
    response = post(client, "/api/v1/quotes/", basket(shop), sync_only)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"session": "other"}, ["session"]),
        ({"session": 999999}, ["session"]),
        ({"ticket_type": "other"}, ["lines.0.ticket_type"]),
        ({"quantity": 0}, ["lines.0.quantity"]),
        ({"quantity": 11}, ["lines.0.quantity"]),
        ({"lines": []}, ["lines"]),
    ],
)
def test_quote_bad_input_is_400_with_field_paths(client, shop, change, fields):
    body = basket(shop)
    if change.get("session") == "other":
        body["session"] = shop["other_session"].pk
    elif "session" in change:
        body["session"] = change["session"]
    if change.get("ticket_type") == "other":
        body["lines"][0]["ticket_type"] = shop["other_type"].pk
    if "quantity" in change:
        body["lines"][0]["quantity"] = change["quantity"]
    if "lines" in change:
        body["lines"] = change["lines"]
    response = post(client, "/api/v1/quotes/", body, shop["plain"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted(error["fields"]) == fields


def test_quote_a_ticket_type_of_another_event_is_a_line_error(client, shop):
    TicketTypeFactory(event__organiser=shop["session"].event.organiser)
    same_organiser = TicketTypeFactory(event__organiser=shop["session"].event.organiser)
    body = basket(shop)
    body["lines"].append({"ticket_type": same_organiser.pk, "quantity": 1})
    response = post(client, "/api/v1/quotes/", body, shop["plain"])
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["lines.1.ticket_type"]


def test_quote_rejects_form_bodies(client, shop):
    response = client.post(
        "/api/v1/quotes/",
        {"session": shop["session"].pk},
        HTTP_AUTHORIZATION=f"Bearer {shop['plain']}",
    )
    assert response.status_code == 415
