"""The fake Stripe's Products and Prices behave as Stripe's do, through the SDK."""

import pytest
import stripe


@pytest.fixture
def sdk(platform):
    return stripe.StripeClient(
        platform.secret_key,
        base_addresses={"api": platform.url},
        max_network_retries=0,
    )


def test_price_amount_and_currency_are_immutable(sdk, platform):
    acct = platform.add_account()["id"]
    on = {"stripe_account": acct}
    product = sdk.v1.products.create(params={"name": "Gig"}, options=on)
    price = sdk.v1.prices.create(
        params={"product": product.id, "unit_amount": 500, "currency": "eur"},
        options=on,
    )
    with pytest.raises(stripe.InvalidRequestError) as error:
        sdk.v1.prices.update(price.id, params={"unit_amount": 600}, options=on)
    assert error.value.http_status == 400
    assert "unit_amount" in str(error.value)
    archived = sdk.v1.prices.update(price.id, params={"active": False}, options=on)
    assert (archived.active, archived.unit_amount) == (False, 500)


def test_objects_belong_to_their_account(sdk, platform):
    mine, theirs = platform.add_account()["id"], platform.add_account()["id"]
    product = sdk.v1.products.create(
        params={"name": "Gig"}, options={"stripe_account": mine}
    )
    with pytest.raises(stripe.InvalidRequestError) as error:
        sdk.v1.products.retrieve(product.id, options={"stripe_account": theirs})
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.prices.create(
            params={"product": product.id, "unit_amount": 1, "currency": "eur"},
            options={"stripe_account": theirs},
        )
    assert platform.products_on(theirs) == []


def test_latency_delays_every_answer(sdk, platform):
    import time

    platform.latency = 0.2
    started = time.monotonic()
    sdk.v1.products.create(params={"name": "Slow"})
    assert time.monotonic() - started >= 0.2
