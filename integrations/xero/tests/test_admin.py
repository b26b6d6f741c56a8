"""Xero in the back office: connecting from admin (consent, organisation, mapping),
the connection's health, each invoice's state in Xero, and tenancy."""

from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory
from integrations.xero.models import XeroConnection, XeroDocument
from integrations.xero.services.connection import connection_for

from .conftest import push_all
from .test_push import _sales

pytestmark = pytest.mark.django_db


def _owner(client, organiser):
    membership = MembershipFactory(organiser=organiser, role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return membership.user


def test_connect_from_admin_choose_the_organisation_and_map(
    client, organiser, rates, xero_fake
):
    _owner(client, organiser)
    connection = connection_for(organiser)
    change = reverse("admin:xero_xeroconnection_change", args=[connection.pk])

    start = client.get(
        reverse("admin:xero_xeroconnection_connect", args=[connection.pk])
    )
    assert start.status_code == 302
    assert start["Location"].startswith(xero_fake.url + "/identity/connect/authorize")
    at_xero = requests.get(start["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_xero.headers["Location"])
    finished = client.get(f"{back.path}?{back.query}")
    assert finished.status_code == 302
    assert finished["Location"] == change

    page = client.get(change)
    assert "Choose the Xero organisation to use." in page.content.decode()
    assert "Second Books Ltd" in page.content.decode()
    gst = rates["gst"]
    posted = client.post(
        change,
        {
            "tenant": xero_fake.tenant_id,
            "sales_account_code": "200",
            "bills_account_code": "310",
            "payment_account_code": "090",
            "tax_mappings-TOTAL_FORMS": "1",
            "tax_mappings-INITIAL_FORMS": "0",
            "tax_mappings-0-tax_rate": gst.pk,
            "tax_mappings-0-tax_type": "OUTPUT",
        },
    )
    assert posted.status_code == 302, posted.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.status == XeroConnection.Status.ACTIVE
    assert connection.tenant_name == "Demo Company (AU)"
    assert connection.payment_account_code == "090"
    assert connection.tax_mappings.get().tax_type == "OUTPUT"

    page = client.get(change).content.decode()
    assert "Connected" in page
    assert "OUTPUT · GST on Income" in page  # the tax types read from Xero
    assert "Disconnect" in page


def test_health_panel_and_invoice_state(client, connected, rates, xero_fake):
    _owner(client, connected.organiser)
    invoice = _sales(connected.organiser, rates)
    push_all()
    XeroDocument.objects.filter(invoice=invoice).update(
        state="failed", last_error="Account code '999' is not a valid code"
    )

    page = client.get(
        reverse("admin:xero_xeroconnection_change", args=[connected.pk])
    ).content.decode()
    assert "Failures in 24 h" in page
    assert "Calls left today (Xero)" in page
    assert "Demo Company (AU)" in page

    invoice_page = client.get(
        reverse("admin:invoicing_invoice_change", args=[invoice.pk])
    ).content.decode()
    assert XeroDocument.objects.get(invoice=invoice).xero_id in invoice_page
    assert "Account code &#x27;999&#x27; is not a valid code" in invoice_page


def test_disconnect_from_admin_revokes(client, connected, xero_fake):
    _owner(client, connected.organiser)
    url = reverse("admin:xero_xeroconnection_disconnect", args=[connected.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 302
    connected.refresh_from_db()
    assert connected.status == XeroConnection.Status.DISCONNECTED
    assert len(xero_fake.revoked) == 1


def test_another_organiser_cannot_see_or_drive_the_connection(
    client, connected, xero_fake
):
    _owner(client, OrganiserFactory())
    for name in ("change", "connect", "disconnect", "refresh"):
        url = reverse(f"admin:xero_xeroconnection_{name}", args=[connected.pk])
        assert client.get(url).status_code in (302, 404), name
    assert (
        client.post(
            reverse("admin:xero_xeroconnection_disconnect", args=[connected.pk])
        ).status_code
        == 404
    )
    connected.refresh_from_db()
    assert connected.status == XeroConnection.Status.ACTIVE
    assert xero_fake.revoked == []


def test_push_again_from_the_invoice_list(client, organiser, rates, xero_fake):
    from .conftest import connect_organiser

    _owner(client, organiser)
    invoice = _sales(organiser, rates)  # issued before Xero was connected
    connect_organiser(organiser, rates, xero_fake)

    answer = client.post(
        reverse("admin:invoicing_invoice_changelist"),
        {"action": "push_to_xero", "_selected_action": [invoice.pk]},
    )
    assert answer.status_code == 302
    push_all()
    assert [i["InvoiceNumber"] for i in xero_fake.invoices.values()] == [
        invoice.display_number
    ]
