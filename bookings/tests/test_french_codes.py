"""A French buyer hears why a discount code is refused in French, at checkout and
from the sale service; so are the sales-window refusals."""

import datetime as dt

import pytest
from django.utils import timezone, translation

from bookings.exceptions import DiscountCodeUsedUp, NotOnSale
from bookings.models import Booking
from bookings.services import BuyerInput
from events.models import Event

from . import helpers
from .factories import DiscountCodeFactory

pytestmark = pytest.mark.django_db
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}


def _checkout(client, session, ticket_type, quantity, code):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "token": "tok-fr-code",
        "action": "book",
        "code": code,
    }
    data.update({f"attendee_name_{i}": f"Invité {i}" for i in range(quantity)})
    response = client.post(f"/e/{session.event.slug}/checkout/", data, **FRENCH)
    return " ".join(response.content.decode().split())


def test_checkout_refuses_a_bad_code_in_french(client, session, ticket_type):
    page = _checkout(client, session, ticket_type, 1, "WRONG")
    assert "Code promo" in page
    assert "Ce code n’est pas valide." in page
    assert "This code" not in page
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "quantity", "french"),
    [
        (
            {"valid_until": timezone.now() - dt.timedelta(days=1)},
            1,
            "Ce code a expiré.",
        ),
        (
            {"valid_from": timezone.now() + dt.timedelta(days=1)},
            1,
            "Ce code n’est pas encore valable.",
        ),
        ({"min_quantity": 3}, 2, "Ce code exige au moins 3 billets dans la commande."),
    ],
)
def test_checkout_says_why_a_code_does_not_apply_in_french(
    client, session, ticket_type, fields, quantity, french
):
    DiscountCodeFactory(organiser=session.event.organiser, code="FR", **fields)
    page = _checkout(client, session, ticket_type, quantity, "fr")
    assert french in page
    assert Booking.objects.count() == 0


def test_a_used_up_code_is_refused_in_french(client, session, ticket_type):
    DiscountCodeFactory(organiser=session.event.organiser, code="ONCE", max_uses=1)
    helpers.hold(
        session,
        (ticket_type, 1),
        buyer=BuyerInput(name="First", email="first@example.org"),
        discount_code="ONCE",
    )
    page = _checkout(client, session, ticket_type, 1, "once")
    assert "Ce code a atteint son nombre maximal d’utilisations." in page
    with translation.override("fr"), pytest.raises(DiscountCodeUsedUp) as error:
        helpers.hold(session, (ticket_type, 1), discount_code="ONCE")
    assert error.value.message == "Ce code a atteint son nombre maximal d’utilisations."


def test_sales_window_refusals_follow_the_buyers_language(session, ticket_type):
    """These messages were translated once, at import, in English."""
    Event.objects.filter(pk=session.event_id).update(
        sales_start_at=timezone.now() + dt.timedelta(days=2)
    )
    session.event.refresh_from_db()
    for language, expected in (
        ("fr", "La vente n’a pas encore commencé."),
        ("en", "Sales have not started yet."),
    ):
        with translation.override(language), pytest.raises(NotOnSale) as error:
            helpers.hold(session, (ticket_type, 1))
        assert error.value.message == expected
