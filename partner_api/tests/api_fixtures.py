"""Helpers and the `shop` fixture of the partner API selling tests."""

import pytest

from events.tests.factories import SessionFactory, TicketTypeFactory
from partner_api.api_keys import ApiKey

EUR = "EUR"


def api_key(organiser, scopes=("read", "write")):
    key, plain = ApiKey.generate(organiser=organiser, name="partner", scopes=scopes)
    key.save()
    return plain


def post(client, path, body, plain=None, idempotency_key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plain}"} if plain else {}
    if idempotency_key:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    return client.post(path, body, content_type="application/json", **headers)


def get(client, path, plain=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plain}"} if plain else {}
    return client.get(path, **headers)


def money(amount):
    return {"amount": amount, "currency": EUR}


@pytest.fixture(name="shop")
def shop_fixture():
    session = SessionFactory(capacity=10, event__timezone="Europe/Paris")
    regular = TicketTypeFactory(event=session.event, name="Regular", price_minor=4500)
    other_session = SessionFactory()
    return {
        "session": session,
        "regular": regular,
        "plain": api_key(session.event.organiser),
        "other_session": other_session,
        "other_type": TicketTypeFactory(event=other_session.event),
    }


def basket(shop, quantity=2, **extra):
    return {
        "session": shop["session"].pk,
        "lines": [{"ticket_type": shop["regular"].pk, "quantity": quantity}],
        **extra,
    }


def order(shop, quantity=2):
    return basket(
        shop,
        quantity,
        buyer={
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "phone": "+33612345678",
        },
        attendees=[{"name": f"Guest {i}"} for i in range(quantity)],
    )


def book(client, shop, quantity=2, key=None):
    return post(client, "/api/v1/bookings/", order(shop, quantity), shop["plain"], key)


@pytest.fixture(name="frozen_signing_clock")
def frozen_signing_clock_fixture(monkeypatch):
    """Booking links carry a signed token stamped to the second: two renderings of
    one booking differ when a second ticks between them. Tests that compare two
    renderings freeze the stamp."""
    import time

    from django.core import signing

    stamp = signing.b62_encode(int(time.time()))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: stamp)
