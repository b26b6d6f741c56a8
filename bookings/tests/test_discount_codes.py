"""Discount codes: the price they give (pages, API, service) and their limits."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings.exceptions import BasketInvalid, DiscountCodeUsedUp
from bookings.models import Booking, DiscountCode
from bookings.services import BuyerInput, booking_cancel
from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.tests.api_fixtures import basket, money, order, post, shop_fixture  # noqa: F401

from . import helpers
from .factories import DiscountCodeFactory

pytestmark = pytest.mark.django_db


def _code(session, **fields):
    return DiscountCodeFactory(organiser=session.event.organiser, **fields)


def _buyer(email):
    return BuyerInput(name="Buyer", email=email)


def test_a_percentage_code_comes_off_the_booking(session, ticket_type):
    code = _code(session, code="SPRING", percent=Decimal("12.5"))
    booking = helpers.hold(session, (ticket_type, 3), discount_code="spring")
    booking.refresh_from_db()
    # 3 × 45.00 = 135.00; 12.5 % = 16.875, rounded half-up to 16.88.
    assert (booking.subtotal_minor, booking.discount_minor, booking.total_minor) == (
        13500,
        1688,
        11812,
    )
    assert booking.discount_code_id == code.pk
    line = booking.lines.get()
    assert (line.discount_minor, line.total_minor) == (1688, 11812)


def test_a_fixed_code_comes_off_each_ticket_never_below_zero(session):
    cheap = TicketTypeFactory(event=session.event, price_minor=800, max_per_order=10)
    dear = TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
    _code(session, code="TENOFF", kind="fixed", percent=None, amount_minor=1000,
          currency="EUR")
    booking = helpers.hold(session, (cheap, 2), (dear, 1), discount_code="TENOFF")
    lines = {line.ticket_type_id: line for line in booking.lines.all()}
    assert (lines[cheap.pk].discount_minor, lines[cheap.pk].total_minor) == (1600, 0)
    assert (lines[dear.pk].discount_minor, lines[dear.pk].total_minor) == (1000, 3500)
    booking.refresh_from_db()
    assert booking.total_minor == 3500


def test_a_code_stacks_on_the_group_price(session):
    group = TicketTypeFactory(
        event=session.event,
        price_minor=1000,
        group_min_quantity=4,
        group_discount_percent=10,
        max_per_order=10,
    )
    _code(session, code="MORE", percent=50)
    booking = helpers.hold(session, (group, 4), discount_code="MORE")
    # 40.00 - 10 % group = 36.00; the code takes half of that: 18.00.
    assert (booking.discount_minor, booking.total_minor) == (2200, 1800)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"is_active": False}, "This code is not valid."),
        (
            {"valid_from": timezone.now() + dt.timedelta(days=1)},
            "This code is not valid yet.",
        ),
        (
            {"valid_until": timezone.now() - dt.timedelta(minutes=1)},
            "This code has expired.",
        ),
        ({"min_quantity": 3}, "This code needs at least 3 tickets in the order."),
        (
            {"kind": "fixed", "percent": None, "amount_minor": 100, "currency": "GBP"},
            "This code is not valid for this event.",
        ),
    ],
)
def test_a_code_that_does_not_apply_is_refused_and_nothing_is_held(
    session, ticket_type, fields, message
):
    _code(session, code="NOPE", **fields)
    with pytest.raises(BasketInvalid) as error:
        helpers.hold(session, (ticket_type, 2), discount_code="NOPE")
    assert error.value.fields == {"code": [message]}
    assert Booking.objects.count() == 0


def test_codes_reach_only_their_events_sessions_and_ticket_types(session, ticket_type):
    other_session = SessionFactory(event=session.event)
    other_type = TicketTypeFactory(event=session.event, price_minor=2000)
    code = _code(session, code="DATE")
    code.sessions.set([other_session])
    with pytest.raises(BasketInvalid) as error:
        helpers.hold(session, (ticket_type, 1), discount_code="DATE")
    assert error.value.fields == {"code": ["This code is not valid for this date."]}

    code.sessions.clear()
    code.ticket_types.set([other_type])
    booking = helpers.hold(
        session, (ticket_type, 1), (other_type, 1), discount_code="DATE"
    )
    lines = {line.ticket_type_id: line.discount_minor for line in booking.lines.all()}
    assert lines == {ticket_type.pk: 0, other_type.pk: 200}
    with pytest.raises(BasketInvalid) as error:
        helpers.hold(session, (ticket_type, 1), discount_code="DATE")
    assert error.value.fields == {
        "code": ["This code does not apply to these tickets."]
    }


def test_another_organisers_code_does_not_exist(session, ticket_type):
    DiscountCodeFactory(code="THEIRS")  # a code of another organiser
    with pytest.raises(BasketInvalid) as error:
        helpers.hold(session, (ticket_type, 1), discount_code="THEIRS")
    assert error.value.fields == {"code": ["This code is not valid."]}


def test_usage_limits_in_all_and_per_email_and_cancelling_gives_a_use_back(
    session, ticket_type
):
    _code(session, code="TWICE", max_uses=2, max_uses_per_email=1)
    first = helpers.hold(
        session, (ticket_type, 1), buyer=_buyer("a@example.org"), discount_code="TWICE"
    )
    with pytest.raises(DiscountCodeUsedUp) as error:
        helpers.hold(
            session,
            (ticket_type, 1),
            buyer=_buyer("A@example.org"),
            discount_code="TWICE",
        )
    assert "already been used with this email" in error.value.message
    helpers.hold(
        session, (ticket_type, 1), buyer=_buyer("b@example.org"), discount_code="TWICE"
    )
    with pytest.raises(DiscountCodeUsedUp) as error:
        helpers.hold(
            session,
            (ticket_type, 1),
            buyer=_buyer("c@example.org"),
            discount_code="TWICE",
        )
    assert error.value.code == "code_used_up"
    assert Booking.objects.filter(discount_code__code="TWICE").count() == 2

    booking_cancel(booking_id=first.pk)
    helpers.hold(
        session, (ticket_type, 1), buyer=_buyer("c@example.org"), discount_code="TWICE"
    )
    assert Booking.objects.filter(discount_code__code="TWICE").count() == 3


def test_a_hold_that_expired_gives_its_use_back(session, ticket_type):
    _code(session, code="ONCE", max_uses=1)
    first = helpers.hold(session, (ticket_type, 1), discount_code="ONCE")
    Booking.objects.filter(pk=first.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    second = helpers.hold(
        session, (ticket_type, 1), buyer=_buyer("b@example.org"), discount_code="ONCE"
    )
    assert second.discount_code_id == first.discount_code_id


# The partner API


def test_api_quote_and_booking_take_a_code(client, shop):
    DiscountCodeFactory(organiser=shop["session"].event.organiser, code="API20",
                        percent=20)
    quote = post(client, "/api/v1/quotes/", basket(shop, 2, code="api20"),
                 shop["plain"])
    assert quote.status_code == 200
    body = quote.json()
    assert (body["discount"], body["total"], body["code"]) == (
        money(1800),
        money(7200),
        "API20",
    )
    created = post(
        client, "/api/v1/bookings/", {**order(shop, 2), "code": "API20"},
        shop["plain"],
    )
    assert created.status_code == 201
    assert created.json()["total"] == money(7200)
    booking = Booking.objects.get(reference=created.json()["reference"])
    assert booking.discount_code.code == "API20"


def test_api_refuses_an_unknown_code_and_a_used_up_one(client, shop):
    unknown = post(client, "/api/v1/quotes/", basket(shop, 1, code="NOPE"),
                   shop["plain"])
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"] == {"code": ["This code is not valid."]}
    DiscountCodeFactory(organiser=shop["session"].event.organiser, code="GONE",
                        max_uses=0)
    used_up = post(
        client, "/api/v1/bookings/", {**order(shop, 1), "code": "GONE"}, shop["plain"]
    )
    assert used_up.status_code == 409
    assert used_up.json()["error"]["code"] == "code_used_up"
    assert Booking.objects.count() == 0


# The checkout page


def _checkout(client, session, ticket_type, quantity, code, action="book"):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "token": "tok-code",
        "action": action,
        "code": code,
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    return client.post(f"/e/{session.event.slug}/checkout/", data)


def test_checkout_page_shows_and_applies_a_code(client, session, ticket_type):
    _code(session, code="SHOP", percent=10)
    page = _checkout(client, session, ticket_type, 2, "shop", action="update")
    html = page.content.decode()
    assert 'name="code"' in html
    assert "Code SHOP" in html
    assert "81.00 EUR" in html  # 90.00 less 10 %
    response = _checkout(client, session, ticket_type, 2, "shop")
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.total_minor, booking.discount_code.code) == (8100, "SHOP")


def test_checkout_page_says_why_a_code_is_refused(client, session, ticket_type):
    response = _checkout(client, session, ticket_type, 1, "WRONG")
    assert response.status_code == 400
    assert "This code is not valid." in response.content.decode()
    assert Booking.objects.count() == 0


def test_a_code_is_unique_per_organiser_whatever_the_case(session):
    from django.db import IntegrityError, transaction

    _code(session, code="SUMMER")
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscountCode.objects.create(
            organiser=session.event.organiser, code="summer", percent=5
        )


# The admin


def test_a_manager_creates_a_code_in_the_admin_and_sees_its_uses(
    client, session, ticket_type
):
    from events.models import Membership
    from events.tests.factories import MembershipFactory

    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.MANAGER
    )
    client.force_login(member.user)
    response = client.post(
        "/admin/bookings/discountcode/add/",
        {
            "code": " early20 ",
            "kind": "percent",
            "percent": "20",
            "min_quantity": "1",
            "is_active": "on",
            "sessions": [session.pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    code = DiscountCode.objects.get()
    assert (code.code, code.organiser_id) == ("EARLY20", session.event.organiser_id)
    assert list(code.sessions.all()) == [session]
    helpers.hold(session, (ticket_type, 1), discount_code="early20")
    page = client.get("/admin/bookings/discountcode/").content.decode()
    assert '<td class="field-uses_display">1</td>' in page
