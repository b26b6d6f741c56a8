"""Connecting an organiser to Xero against the fake: OAuth 2 with state and PKCE,
the tenant, encrypted tokens refreshed before expiry, disconnecting revokes."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from integrations.xero.exceptions import XeroConnectError
from integrations.xero.models import XeroConnection
from integrations.xero.services import connection as connect

from .conftest import REDIRECT, consent

pytestmark = pytest.mark.django_db


def test_consent_with_pkce_then_tenant_choice(organiser, xero_fake):
    url = connect.connect_start(organiser=organiser, redirect_uri=REDIRECT)
    asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert asked["code_challenge_method"] == "S256"
    assert "offline_access" in asked["scope"].split()
    answer = consent(url)
    assert answer["state"] == asked["state"]

    connection = connect.connect_finish(
        state=answer["state"], code=answer["code"], redirect_uri=REDIRECT
    )

    # Two organisations granted: the organiser picks one.
    assert connection.status == XeroConnection.Status.CHOOSING
    assert {t["name"] for t in connection.tenants_offered} == set(
        xero_fake.tenants.values()
    )
    # Tokens at rest are encrypted, and are the fake's.
    assert connection.access_token in xero_fake.access_tokens
    assert connection.access_token not in connection.access_token_encrypted
    assert connection.refresh_token in xero_fake.refresh_tokens
    assert connection.oauth_state == ""  # single use

    connection = connect.tenant_choose(
        connection_id=connection.pk, tenant_id=xero_fake.tenant_id
    )
    assert connection.status == XeroConnection.Status.ACTIVE
    assert connection.tenant_name == "Demo Company (AU)"
    assert {"OUTPUT", "TAX002", "EXEMPTOUTPUT"} <= {
        t["TaxType"] for t in connection.tax_types
    }
    assert "090" in {a["Code"] for a in connection.accounts}
    tax_call = xero_fake.calls("/TaxRates")[0]
    assert tax_call.headers["xero-tenant-id"] == xero_fake.tenant_id


def test_a_state_we_did_not_issue_is_refused(organiser, xero_fake):
    url = connect.connect_start(organiser=organiser, redirect_uri=REDIRECT)
    answer = consent(url)
    with pytest.raises(XeroConnectError):
        connect.connect_finish(
            state="forged-" + "x" * 40, code=answer["code"], redirect_uri=REDIRECT
        )
    assert xero_fake.calls("/connect/token") == []
    assert XeroConnection.objects.get(organiser=organiser).status == "new"


def test_a_code_without_our_verifier_is_refused(organiser, xero_fake):
    url = connect.connect_start(organiser=organiser, redirect_uri=REDIRECT)
    answer = consent(url)
    connection = XeroConnection.objects.get(organiser=organiser)
    connection.set_code_verifier("not-the-verifier-the-challenge-was-made-from")
    connection.save()
    with pytest.raises(XeroConnectError, match="invalid_grant"):
        connect.connect_finish(
            state=answer["state"], code=answer["code"], redirect_uri=REDIRECT
        )
    connection.refresh_from_db()
    assert connection.status == "new"
    assert connection.access_token == ""


def test_token_refreshed_before_it_expires(connected, xero_fake):
    old_access, old_refresh = connected.access_token, connected.refresh_token
    XeroConnection.objects.filter(pk=connected.pk).update(
        access_expires_at=timezone.now() + dt.timedelta(minutes=2)
    )
    connected.refresh_from_db()

    connect.api_for(connected).tax_rates()

    connected.refresh_from_db()
    assert connected.access_token != old_access
    assert connected.access_expires_at > timezone.now() + dt.timedelta(minutes=25)
    # Xero rotates refresh tokens: the old one is dead, the new one stored.
    assert old_refresh not in xero_fake.refresh_tokens
    assert connected.refresh_token in xero_fake.refresh_tokens
    assert len(xero_fake.calls("/connect/token")) == 2  # the code, then one refresh


def test_a_refused_refresh_marks_the_connection_for_reconnecting(connected, xero_fake):
    xero_fake.refresh_tokens.clear()  # revoked at Xero
    XeroConnection.objects.filter(pk=connected.pk).update(
        access_expires_at=timezone.now()
    )
    connected.refresh_from_db()
    with pytest.raises(Exception, match="refused"):
        connect.api_for(connected)
    connected.refresh_from_db()
    assert connected.status == XeroConnection.Status.BROKEN
    from ticketing.models import Alert

    alert = Alert.objects.get(kind="xero.connection_broken")
    assert alert.link == f"/admin/xero/xeroconnection/{connected.pk}/change/"
    assert alert.get_kind_display() == "Xero connection broken"


def test_disconnect_revokes_and_forgets(connected, xero_fake):
    refresh = connected.refresh_token
    connection = connect.disconnect(connection_id=connected.pk)
    assert xero_fake.revoked == [refresh]
    assert refresh not in xero_fake.refresh_tokens
    assert connection.status == XeroConnection.Status.DISCONNECTED
    assert connection.access_token_encrypted == connection.refresh_token_encrypted == ""
