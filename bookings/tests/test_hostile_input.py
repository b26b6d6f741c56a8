"""Input PostgreSQL cannot store (NUL, over-long hidden fields, runaway JSON) gets a
clear 400 on every surface of bookings, and writes nothing (issue 16 item 6)."""

import json

import pytest
from django.core import mail

from bookings.models import Booking
from partner_api.models import ApiIdempotencyRecord
from partner_api.tests.api_fixtures import api_key, order, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def _checkout(client, session, ticket_type, **extra):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": 1,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "token": "tok-1",
        "action": "book",
        "attendee_name_0": "Guest",
    }
    data.update(extra)
    return client.post(f"/e/{session.event.slug}/checkout/", data)


def test_an_over_long_hidden_token_is_a_form_error_not_a_500(
    client, session, ticket_type
):
    response = _checkout(client, session, ticket_type, token="A" * 5000)

    assert response.status_code == 400
    assert "This form was changed on its way to us" in response.content.decode()
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("buyer_name", "Ada\x01Lovelace"),
        ("attendee_name_0", "Guest\x1b[31m"),
        ("token", "tok\x00"),
        ("buyer_email", "ada\x00@example.org"),
    ],
)
def test_control_characters_in_checkout_fields_are_refused_next_to_the_field(
    client, session, ticket_type, field, value
):
    response = _checkout(client, session, ticket_type, **{field: value})

    assert response.status_code == 400
    page = response.content.decode()
    assert any(
        message in page
        for message in (
            "Remove the control characters",  # next to a visible field
            "Null characters are not allowed",  # Django's own, for NUL
            "This form was changed on its way to us",  # a hidden field
        )
    )
    assert Booking.objects.count() == 0


def test_the_lookup_form_refuses_nul_with_a_message_and_sends_nothing(client):
    response = client.post(
        "/b/lookup/", {"reference": "AB\x00CD", "email": "ada@example.org"}
    )

    assert response.status_code == 400
    assert "characters we cannot accept" in response.content.decode()
    assert mail.outbox == []


def test_a_nul_in_a_page_path_is_the_404_page(client):
    response = client.get("/b/AB%00CD/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_control_character_in_a_query_string_is_a_400_page(client):
    response = client.get("/payments/paystack/return/", {"reference": "x\x00y"})

    assert response.status_code == 400
    assert "characters we cannot accept" in response.content.decode()


def _api_error(response):
    return json.loads(response.content)["error"]


def test_api_paths_and_queries_with_nul_answer_in_the_api_shape(client, shop):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {shop['plain']}"}

    path = client.get("/api/v1/bookings/AB%00CD/", **headers)
    query = client.get("/api/v1/events/", {"cursor": "\x00"}, **headers)

    assert path.status_code == 404
    assert _api_error(path)["code"] == "not_found"
    assert query.status_code == 400
    assert _api_error(query)["code"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"session": ' * 5_000 + "1" + "}" * 5_000,
        '{"session": 1, "buyer": {"name": "Ada\\u0000"}}',
        '{"session": 1, "\\u0000": 1}',
        '{"session": 1, "buyer": {"name": "\\ud800"}}',
    ],
    ids=["deep-list", "deep-object", "nul-value", "nul-key", "lone-surrogate"],
)
def test_api_refuses_json_it_cannot_store_with_a_parse_error(client, shop, body):
    response = client.post(
        "/api/v1/bookings/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {shop['plain']}",
        HTTP_IDEMPOTENCY_KEY="fuzz-1",
    )

    assert response.status_code == 400
    assert _api_error(response)["code"] == "parse_error"
    assert Booking.objects.count() == 0


def test_api_nesting_just_under_the_limit_is_parsed(client, shop):
    body = order(shop, 1)
    body["buyer"]["extra"] = json.loads("[" * 60 + "]" * 60)

    response = post(client, "/api/v1/bookings/", body, shop["plain"])

    assert response.status_code == 201


def test_an_oversize_api_body_gets_the_api_error_shape(client, shop, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = order(shop, 1)
    body["buyer"]["name"] = "A" * 20_000

    response = post(client, "/api/v1/bookings/", body, shop["plain"], "big-1")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert _api_error(response)["code"] == "request_too_large"
    assert Booking.objects.count() == 0
    assert ApiIdempotencyRecord.objects.count() == 0
