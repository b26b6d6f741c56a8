import pytest
from django.urls import reverse

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory
from payments.accounts import credentials_for, providers_offered
from payments.exceptions import ProviderNotConfigured
from payments.models import ProviderAccount

pytestmark = pytest.mark.django_db


def test_keys_are_encrypted_at_rest_and_read_back():
    organiser = OrganiserFactory()
    account = ProviderAccount(organiser=organiser, provider="stripe")
    account.secret_key = "sk_test_secret_value"
    account.webhook_secret = "whsec_signing"
    account.save()

    stored = ProviderAccount.objects.values(
        "secret_key_encrypted", "webhook_secret_encrypted"
    ).get()
    assert "sk_test_secret_value" not in stored["secret_key_encrypted"]
    assert "whsec_signing" not in stored["webhook_secret_encrypted"]
    credentials = credentials_for(organiser.pk, "stripe")
    assert credentials.secret_key == "sk_test_secret_value"
    assert credentials.webhook_secret == "whsec_signing"


def test_organiser_account_wins_over_settings_and_settings_are_the_fallback(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_project"
    settings.PAYSTACK_SECRET_KEY = ""
    with_account, without = OrganiserFactory(), OrganiserFactory()
    account = ProviderAccount(organiser=with_account, provider="stripe")
    account.secret_key = "sk_test_own"
    account.save()

    assert credentials_for(with_account.pk, "stripe").secret_key == "sk_test_own"
    assert credentials_for(without.pk, "stripe").secret_key == "sk_test_project"
    assert providers_offered(without.pk) == ["stripe"]
    with pytest.raises(ProviderNotConfigured):
        credentials_for(without.pk, "paystack")
    ProviderAccount.objects.filter(pk=account.pk).update(is_enabled=False)
    with pytest.raises(ProviderNotConfigured):
        credentials_for(with_account.pk, "stripe")


def test_admin_never_shows_a_stored_secret_and_empty_keeps_it(client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(owner.user)
    account = ProviderAccount(organiser=owner.organiser, provider="stripe")
    account.secret_key = "sk_test_do_not_show"
    account.save()
    url = reverse("admin:payments_provideraccount_change", args=[account.pk])

    page = client.get(url).content.decode()
    assert "sk_test_do_not_show" not in page
    assert account.secret_key_encrypted not in page

    client.post(
        url,
        {
            "organiser": owner.organiser.pk,
            "provider": "stripe",
            "is_enabled": "on",
            "public_key": "pk_test_new",
            "secret_key": "",
            "webhook_secret": "",
        },
    )
    account.refresh_from_db()
    assert account.public_key == "pk_test_new"
    assert account.secret_key == "sk_test_do_not_show"

    client.post(
        url,
        {
            "organiser": owner.organiser.pk,
            "provider": "stripe",
            "is_enabled": "on",
            "public_key": "pk_test_new",
            "secret_key": "sk_test_rotated",
            "webhook_secret": "",
        },
    )
    account.refresh_from_db()
    assert account.secret_key == "sk_test_rotated"


def test_staff_cannot_touch_payment_accounts(client):
    staff = MembershipFactory(role=Membership.Role.STAFF)
    client.force_login(staff.user)
    response = client.get(reverse("admin:payments_provideraccount_add"))
    assert response.status_code == 403
