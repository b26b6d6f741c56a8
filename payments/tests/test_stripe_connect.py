"""Stripe Connect end to end: the admin's "Connect with Stripe", Stripe's onboarding and
`account.updated`, destination charges with the platform's fee and their refunds, all
through the official SDK against the local fake of Stripe, over HTTP."""

import datetime as dt
import hashlib

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.tests.helpers import hold
from events.models import Membership
from events.tests.factories import (
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
)
from payments.accounts import providers_offered
from payments.models import (
    ConnectedAccount,
    Payment,
    ProviderAccount,
    Refund,
    WebhookDelivery,
)
from payments.services import payment_start, refund_issue, webhooks_retry_due
from payments.services.connect import connected_account_link
from payments.signals import connected_account_changed
from payments.tests.factories import PaymentFactory
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db

RETURN_URL = "http://testserver/b/return/"


@pytest.fixture
def platform(stripe_fake, settings):
    """The platform's Stripe keys and endpoint secrets, all the fake's."""
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_platform"
    settings.STRIPE_WEBHOOK_SECRET = stripe_fake.webhook_secret
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = stripe_fake.connect_webhook_secret
    settings.PLATFORM_FEE_PERCENT = "2.5"
    settings.PLATFORM_FEE_FIXED_MINOR = 30
    return stripe_fake


def _owner(client, organiser):
    membership = MembershipFactory(organiser=organiser, role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return membership.user


def _connected(fake, organiser, **policy) -> ConnectedAccount:
    """An organiser whose account Stripe already lets take charges."""
    account = fake.add_account(charges_enabled=True)
    connected = connected_account_link(
        organiser_id=organiser.pk, account_id=account["id"]
    )
    if policy:
        ConnectedAccount.objects.filter(pk=connected.pk).update(**policy)
    return ConnectedAccount.objects.get(pk=connected.pk)


def _post_connect(client, body, signature):
    return client.post(
        "/webhooks/stripe/connect/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def _pay(fake, client, booking, capture) -> Payment:
    """Open the booking's Stripe payment, have the buyer pay it, deliver the webhook."""
    payment = payment_start(
        booking_id=booking.pk, provider="stripe", return_url=RETURN_URL
    )
    fake.succeed(payment.provider_reference)
    body, signature = fake.signed_event(
        "payment_intent.succeeded", fake.payment_intent(payment.provider_reference)
    )
    with capture(execute=True):
        answer = client.post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
    assert answer.status_code == 200
    payment.refresh_from_db()
    return payment


def test_onboarding_from_admin_to_charges_enabled_then_buyers_can_pay_by_card(
    platform, client, session, ticket_type, django_capture_on_commit_callbacks
):
    organiser = session.event.organiser
    _owner(client, organiser)

    # "Connect with Stripe": the account is created and the organiser sent to Stripe.
    added = client.post(
        reverse("admin:payments_connectedaccount_add"), {"organiser": organiser.pk}
    )
    connected = ConnectedAccount.objects.get(organiser=organiser)
    onboard_path = f"/admin/payments/connectedaccount/{connected.pk}/onboard/"
    return_path = f"/admin/payments/connectedaccount/{connected.pk}/return/"
    assert added.status_code == 302
    assert added.url == onboard_path
    created = platform.last("accounts.create")
    assert created.params["controller"]["stripe_dashboard"]["type"] == "express"
    assert created.params["capabilities"]["transfers"]["requested"] == "true"
    assert created.params["country"] == "FR"
    assert created.params["metadata"]["organiser"] == organiser.slug
    assert created.idempotency_key == f"connect-account:{organiser.pk}"
    assert connected.account_id in platform.accounts
    assert connected.charges_enabled is False
    assert "external_account" in connected.requirements_due

    change = client.get(
        reverse("admin:payments_connectedaccount_change", args=[connected.pk])
    ).content.decode()
    assert f'href="{onboard_path}"' in change
    assert "Continue onboarding at Stripe" in change

    onboard = client.get(onboard_path)
    link = platform.last("account_links.create").params
    assert link == {
        "account": connected.account_id,
        "type": "account_onboarding",
        "refresh_url": f"http://testserver{onboard_path}",
        "return_url": f"http://testserver{return_path}",
        "collection_options": {"fields": "currently_due"},
    }
    assert onboard.status_code == 302
    assert onboard.url.startswith(platform.url)

    # Onboarding not finished: no card payment is offered, not even with the
    # project's keys (the money would stay on the platform's account).
    booking = hold(session, (ticket_type, 1))
    page = client.get(booking_page_path(booking.reference)).content.decode()
    assert "data-client-secret" not in page
    assert platform.calls["payment_intents.create"] == 0

    # The organiser comes back before finishing: the page says what Stripe needs.
    visit = requests.get(onboard.url, allow_redirects=False, timeout=5)
    assert visit.headers["Location"] == f"http://testserver{return_path}"
    back = client.get(return_path, follow=True).content.decode()
    assert "Stripe cannot take payments for this account yet" in back
    assert "external_account" in back
    # A link is single-use: opening it again leads to a fresh one.
    again = requests.get(onboard.url, allow_redirects=False, timeout=5)
    assert again.headers["Location"] == f"http://testserver{onboard_path}"

    # Stripe finishes its review and says so on the Connect endpoint.
    platform.complete_onboarding(connected.account_id)
    body, signature = platform.signed_event(
        "account.updated",
        platform.connected_account(connected.account_id),
        account=connected.account_id,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert _post_connect(client, body, signature).status_code == 200

    connected.refresh_from_db()
    assert connected.charges_enabled is True
    assert connected.payouts_enabled is True
    assert connected.requirements_due == []
    assert connected.last_account_updated_at is not None
    assert WebhookDelivery.objects.get(event_type="account.updated").processed_at
    assert AuditEntry.objects.filter(action="payments.connect.updated").exists()

    # The admin shows the account's state; the buyer can now pay by card, to it.
    listing = client.get(reverse("admin:payments_connectedaccount_changelist"))
    assert connected.account_id in listing.content.decode()
    page = client.get(booking_page_path(booking.reference)).content.decode()
    assert 'data-publishable-key="pk_test_platform"' in page
    assert "data-client-secret" in page
    intent = platform.last("payment_intents.create").params
    assert intent["transfer_data"] == {"destination": connected.account_id}
    assert intent["application_fee_amount"] == str(113 + 30)  # 2.5 % of 4500 + 30


def test_a_destination_charge_carries_the_fee_and_a_refund_reverses_both(
    platform, client, session, ticket_type, django_capture_on_commit_callbacks
):
    organiser = session.event.organiser
    connected = _connected(platform, organiser, is_merchant_of_record=True)
    booking = hold(session, (ticket_type, 2))  # 2 × 45.00 EUR

    payment = _pay(platform, client, booking, django_capture_on_commit_callbacks)

    fee = 225 + 2 * 30  # 2.5 % of 9000, and 30 per ticket
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.destination_account == connected.account_id
    assert payment.application_fee_minor == fee
    created = platform.last("payment_intents.create").params
    assert created["amount"] == "9000"
    assert created["application_fee_amount"] == str(fee)
    assert created["transfer_data"] == {"destination": connected.account_id}
    assert created["on_behalf_of"] == connected.account_id
    transfer = platform.transfer_of(payment.provider_reference)
    assert (transfer["destination"], transfer["amount"]) == (connected.account_id, 9000)
    assert platform.application_fee_of(payment.provider_reference)["amount"] == fee
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED

    refund = refund_issue(payment_id=payment.pk, reason="requested_by_customer")

    asked = platform.last("refunds.create").params
    assert asked["reverse_transfer"] == "true"
    assert asked["refund_application_fee"] == "true"
    assert asked["amount"] == "9000"
    transfer = platform.transfer_of(payment.provider_reference)
    assert transfer["amount_reversed"] == 9000
    assert transfer["reversed"] is True
    application_fee = platform.application_fee_of(payment.provider_reference)
    assert application_fee["amount_refunded"] == fee
    assert refund.status == Refund.Status.SUCCEEDED
    assert (refund.reverses_transfer, refund.refunds_application_fee) == (True, True)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.REFUNDED


def test_by_policy_the_platform_keeps_its_fee_on_a_partial_refund(
    platform, client, session, ticket_type, django_capture_on_commit_callbacks
):
    _connected(platform, session.event.organiser, refunds_application_fee=False)
    booking = hold(session, (ticket_type, 2))
    payment = _pay(platform, client, booking, django_capture_on_commit_callbacks)

    refund_issue(payment_id=payment.pk, amount_minor=3000)

    asked = platform.last("refunds.create").params
    assert asked["reverse_transfer"] == "true"
    assert "refund_application_fee" not in asked
    transfer = platform.transfer_of(payment.provider_reference)
    assert transfer["amount_reversed"] == 3000  # in proportion: a third
    assert (
        platform.application_fee_of(payment.provider_reference)["amount_refunded"] == 0
    )
    assert Refund.objects.get().refunds_application_fee is False


def test_a_zero_fee_rule_sends_no_fee_and_an_organisers_own_rule_wins(
    platform, client, session, ticket_type, settings
):
    settings.PLATFORM_FEE_PERCENT = "0"
    settings.PLATFORM_FEE_FIXED_MINOR = 0
    connected = _connected(platform, session.event.organiser)

    payment_start(
        booking_id=hold(session, (ticket_type, 1)).pk,
        provider="stripe",
        return_url=RETURN_URL,
    )
    created = platform.last("payment_intents.create").params
    assert "application_fee_amount" not in created
    assert created["transfer_data"] == {"destination": connected.account_id}

    ConnectedAccount.objects.filter(pk=connected.pk).update(
        fee_percent="10.00", fee_fixed_minor=0
    )
    payment = payment_start(
        booking_id=hold(session, (ticket_type, 1)).pk,
        provider="stripe",
        return_url=RETURN_URL,
    )
    assert payment.application_fee_minor == 450
    assert (
        platform.last("payment_intents.create").params["application_fee_amount"]
        == "450"
    )


def test_an_organiser_without_a_connected_account_keeps_its_own_keys(
    platform, session, ticket_type
):
    own = ProviderAccount(organiser=session.event.organiser, provider="stripe")
    own.secret_key = platform.secret_key
    own.save()
    other = SessionFactory(capacity=10)
    other_type = TicketTypeFactory(event=other.event, price_minor=4500)
    connected = _connected(platform, other.event.organiser)

    mine = payment_start(
        booking_id=hold(session, (ticket_type, 1)).pk,
        provider="stripe",
        return_url=RETURN_URL,
    )
    theirs = payment_start(
        booking_id=hold(other, (other_type, 1)).pk,
        provider="stripe",
        return_url=RETURN_URL,
    )

    intent = platform.payment_intent(mine.provider_reference)
    assert intent["transfer_data"] is None
    assert intent["application_fee_amount"] is None
    assert (mine.destination_account, mine.application_fee_minor) == ("", 0)
    assert platform.payment_intent(theirs.provider_reference)["transfer_data"] == {
        "destination": connected.account_id
    }


def test_own_keys_keep_selling_while_onboarding_and_connect_takes_over_after(
    platform, session, ticket_type
):
    organiser = session.event.organiser
    own = ProviderAccount(organiser=organiser, provider="stripe")
    own.secret_key = platform.secret_key
    own.save()
    connected = connected_account_link(organiser_id=organiser.pk)
    booking = hold(session, (ticket_type, 1))

    before = payment_start(booking_id=booking.pk, provider="stripe", return_url="/")
    assert before.destination_account == ""
    assert providers_offered(organiser.pk) == ["stripe"]

    platform.complete_onboarding(connected.account_id)
    ConnectedAccount.objects.filter(pk=connected.pk).update(charges_enabled=True)
    after = payment_start(booking_id=booking.pk, provider="stripe", return_url="/")

    # The open attempt would pay the organiser's own account: a new one replaces it.
    assert after.pk != before.pk
    assert after.destination_account == connected.account_id
    before.refresh_from_db()
    assert before.status == Payment.Status.CANCELED


def test_account_updated_while_stripe_is_down_is_kept_and_swept_later(
    platform, client, django_capture_on_commit_callbacks
):
    organiser = OrganiserFactory()
    connected = connected_account_link(organiser_id=organiser.pk)
    announced = []

    def record(sender, **kwargs):
        announced.append((kwargs["organiser_id"], kwargs["charges_enabled"]))

    connected_account_changed.connect(record)
    try:
        platform.complete_onboarding(connected.account_id)
        body, signature = platform.signed_event(
            "account.updated",
            platform.connected_account(connected.account_id),
            account=connected.account_id,
        )
        platform.fail_next(503)  # the re-read of the account
        with django_capture_on_commit_callbacks(execute=True):
            assert _post_connect(client, body, signature).status_code == 200

        delivery = WebhookDelivery.objects.get(event_type="account.updated")
        assert delivery.status == WebhookDelivery.Status.FAILED
        connected.refresh_from_db()
        assert connected.charges_enabled is False
        assert announced == []

        with django_capture_on_commit_callbacks(execute=True):
            swept = webhooks_retry_due(now=timezone.now() + dt.timedelta(hours=7))
    finally:
        connected_account_changed.disconnect(record)

    assert swept == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.organiser_id == organiser.pk
    connected.refresh_from_db()
    assert connected.charges_enabled is True
    assert announced == [(organiser.pk, True)]


def test_a_forged_connect_webhook_is_refused_and_kept_only_as_an_excerpt(
    platform, client, django_capture_on_commit_callbacks
):
    organiser = OrganiserFactory()
    connected = connected_account_link(organiser_id=organiser.pk)
    claim = {
        **platform.connected_account(connected.account_id),
        "charges_enabled": True,
        "pad": "x" * 50_000,
    }
    # Signed with the platform endpoint's secret, not the Connect endpoint's.
    body, wrong_secret = platform.signed_event(
        "account.updated",
        claim,
        account=connected.account_id,
        secret=platform.webhook_secret,
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert _post_connect(client, body, wrong_secret).status_code == 400
        assert _post_connect(client, body, "t=1,v1=forged").status_code == 400

    rejected = WebhookDelivery.objects.filter(signature_valid=False)
    assert rejected.count() == 2
    for row in rejected:
        assert row.status == WebhookDelivery.Status.REJECTED
        assert len(row.raw_body) <= 2048
        assert row.body_size == len(body)
        assert row.body_sha256 == hashlib.sha256(body).hexdigest()
        assert row.event == {}
    connected.refresh_from_db()
    assert connected.charges_enabled is False
    assert platform.calls["accounts.retrieve"] == 0

    # And a Connect-signed event is not accepted by the platform's endpoint either.
    body, connect_signature = platform.signed_event(
        "account.updated", claim, account=connected.account_id
    )
    answer = client.post(
        "/webhooks/stripe/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=connect_signature,
    )
    assert answer.status_code == 400


def test_adopting_an_account_the_platform_cannot_reach_is_refused(platform, client):
    organiser = OrganiserFactory()
    _owner(client, organiser)

    page = client.post(
        reverse("admin:payments_connectedaccount_add"),
        {"organiser": organiser.pk, "existing_account": "acct_notours"},
        follow=True,
    )

    assert "Stripe could not connect this organiser" in page.content.decode()
    assert not ConnectedAccount.objects.exists()


def test_only_the_platform_sets_its_fee(platform, client):
    organiser = OrganiserFactory()
    connected = _connected(platform, organiser)
    _owner(client, organiser)
    url = reverse("admin:payments_connectedaccount_change", args=[connected.pk])

    client.post(
        url,
        {
            "is_merchant_of_record": "on",
            "fee_percent": "0",
            "fee_fixed_minor": "0",
            "refunds_application_fee": "on",
        },
    )

    connected.refresh_from_db()
    assert connected.is_merchant_of_record is True
    assert (connected.fee_percent, connected.fee_fixed_minor) == (None, None)
    assert AuditEntry.objects.filter(
        action="payments.connect.settings_changed"
    ).exists()


def test_the_fake_keeps_each_accounts_objects_to_itself(platform):
    import stripe

    first, second = platform.add_account(), platform.add_account()
    client = stripe.StripeClient(
        platform.secret_key, base_addresses={"api": platform.url}
    )
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur"},
        options={"stripe_account": first["id"]},
    )

    assert (
        client.v1.payment_intents.retrieve(
            intent.id, options={"stripe_account": first["id"]}
        ).id
        == intent.id
    )
    for options in ({}, {"stripe_account": second["id"]}):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.payment_intents.retrieve(intent.id, options=options)
    with pytest.raises(stripe.PermissionError):
        client.v1.payment_intents.retrieve(
            intent.id, options={"stripe_account": "acct_unknown"}
        )
    assert (
        platform.last("payment_intents.create").headers["stripe-account"]
        == (first["id"])
    )


def test_the_admin_shows_a_payments_fee_and_destination_without_letting_them_change(
    client,
):
    payment = PaymentFactory(
        destination_account="acct_organiser", application_fee_minor=285
    )
    _owner(client, payment.organiser)
    url = reverse("admin:payments_payment_change", args=[payment.pk])

    response = client.get(url)
    page = response.content.decode()
    posted = {"destination_account": "acct_other", "application_fee_minor": "0"}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        posted.update(
            {management.add_prefix(k): v for k, v in management.initial.items()}
        )
    saved = client.post(url, posted)

    assert saved.status_code == 302  # saved: only what may change did
    assert "acct_organiser" in page
    assert "285" in page
    payment.refresh_from_db()
    assert (payment.destination_account, payment.application_fee_minor) == (
        "acct_organiser",
        285,
    )
