"""`buyer.phone` on the partner API (issue 16, item 9): checked as the shop checks
it and stored in E.164, or a 400 field error that writes nothing."""

import pytest

from bookings.models import Booking

from .api_fixtures import order, post, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def _book(client, shop, phone):
    body = order(shop, 1)
    body["buyer"]["phone"] = phone
    return post(client, "/api/v1/bookings/", body, shop["plain"])


@pytest.mark.parametrize(
    "phone", ["+3361", "06 12 34 56 78", "call me", "+1 555 0100", "+" + "9" * 20]
)
def test_an_invalid_phone_is_a_400_field_error(client, shop, phone):
    response = _book(client, shop, phone)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["buyer.phone"]
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33612345678", "+33612345678"),
        ("+234 803 123 4567", "+2348031234567"),
        ("", ""),
    ],
)
def test_a_valid_phone_is_stored_in_e164(client, shop, phone, stored):
    response = _book(client, shop, phone)

    assert response.status_code == 201
    assert Booking.objects.get().buyer_phone == stored
