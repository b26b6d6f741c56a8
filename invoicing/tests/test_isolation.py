"""A performer's user sees, read-only, only the documents addressed to their party:
on every invoice admin view (list, change, PDF, actions, add, delete) and through
the partner API. Organiser tenancy itself is `events/tests/test_admin_tenancy.py`."""

import pytest
from django.urls import reverse

from events.tests.factories import OrganiserFactory, UserFactory
from invoicing.models import Invoice
from invoicing.services import LineInput, Recipient, invoice_create, invoice_issue

from .factories import PartyFactory
from .helpers import bill

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    organiser = OrganiserFactory()
    jo_user = UserFactory(is_staff=True)
    jo = PartyFactory(organiser=organiser, name="Jo", user=jo_user)
    sam = PartyFactory(organiser=organiser, name="Sam", user=UserFactory())
    other_org_party = PartyFactory(name="Elsewhere", user=jo_user)
    return {
        "user": jo_user,
        "mine": bill(jo, 10000),
        "mine_elsewhere": bill(other_org_party, 30000),
        "sams": bill(sam, 20000),
        "unaddressed": invoice_issue(
            invoice_id=invoice_create(
                organiser=organiser,
                type=Invoice.Type.SALES,
                recipient=Recipient("Buyer"),
                currency="EUR",
                lines=[LineInput("Ticket", 5000)],
            ).pk
        ),
    }


def _url(view, *args):
    return reverse(f"admin:invoicing_invoice_{view}", args=args)


def test_the_list_shows_only_documents_addressed_to_the_party(client, world):
    client.force_login(world["user"])
    page = client.get(_url("changelist"))
    assert page.status_code == 200
    shown = {invoice.pk for invoice in page.context["cl"].result_list}
    assert shown == {world["mine"].pk, world["mine_elsewhere"].pk}
    # Filters and search never widen it.
    for query in ({"type__exact": "sales"}, {"q": "Sam"}, {"overdue": "no"}):
        page = client.get(_url("changelist"), query)
        assert {i.pk for i in page.context["cl"].result_list} <= shown
    assert page.context["cl"].model_admin.get_actions(page.wsgi_request) == {}


def test_change_and_pdf_views_refuse_other_documents_and_are_read_only(client, world):
    client.force_login(world["user"])
    for other in (world["sams"], world["unaddressed"]):
        assert client.get(_url("change", other.pk)).status_code in (302, 404)
        assert client.get(_url("pdf", other.pk)).status_code == 404
    mine = world["mine"]
    page = client.get(_url("change", mine.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    pdf = client.get(_url("pdf", mine.pk))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    # Writes: a post changes nothing, add and delete are refused.
    before = Invoice.objects.get(pk=mine.pk).recipient_name
    client.post(_url("change", mine.pk), {"recipient_name": "Changed"})
    assert Invoice.objects.get(pk=mine.pk).recipient_name == before
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("delete", mine.pk), {"post": "yes"}).status_code == 403
    assert Invoice.objects.filter(pk=mine.pk).exists()
    response = client.post(
        _url("changelist"),
        {"action": "void", "_selected_action": [mine.pk, world["sams"].pk]},
    )
    assert response.status_code in (200, 302)
    assert Invoice.objects.get(pk=world["sams"].pk).status == Invoice.Status.ISSUED
    assert Invoice.objects.get(pk=mine.pk).status == Invoice.Status.ISSUED


def test_a_user_without_a_party_sees_no_invoices(client, world):
    client.force_login(UserFactory(is_staff=True))
    page = client.get(_url("changelist"))
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []
    assert client.get(_url("pdf", world["mine"].pk)).status_code == 404
