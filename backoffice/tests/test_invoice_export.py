"""The invoice list exports as CSV and XLSX exactly as the changelist filters it;
organiser members export only their organisers' documents, a party's user only the
documents addressed to them (tenancy)."""

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from invoicing.models import Invoice
from invoicing.services import (
    invoice_payment_record,
)
from invoicing.tests.factories import PartyFactory
from invoicing.tests.helpers import bill, gst

pytestmark = pytest.mark.django_db

EXPORT = reverse("backoffice:invoice-export")
HEADER = [
    "Number", "Type", "Status", "Recipient", "Issued", "Due", "Currency",
    "Net", "Tax", "Gross", "Paid", "Balance",
]  # fmt: skip


def _bill(party, description, price, *, issue=True):
    return bill(
        party,
        price,
        description=description,
        tax_rate=gst(party.organiser),
        issue=issue,
        tax_treatment=Invoice.TaxTreatment.EXCLUSIVE,
    )


@pytest.fixture
def world():
    organiser = OrganiserFactory()
    jo = PartyFactory(organiser=organiser, name="=Jo", user=UserFactory())
    sam = PartyFactory(organiser=organiser, name="Sam")
    jos = _bill(jo, "Fee", 10000)
    invoice_payment_record(invoice_id=jos.pk, amount_minor=4000)
    sams = _bill(sam, "Fee", 20000)
    draft = _bill(sam, "Later", 5000, issue=False)
    elsewhere = _bill(PartyFactory(name="Elsewhere"), "Fee", 30000)
    return {
        "organiser": organiser,
        "manager": MembershipFactory(organiser=organiser).user,
        "jo": jo,
        "jos": jos,
        "sams": sams,
        "draft": draft,
        "elsewhere": elsewhere,
    }


def _csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_has_every_figure_of_the_organisers_documents(client, world):
    client.force_login(world["manager"])
    header, *rows = _csv(client.get(EXPORT, {"format": "csv"}))
    assert header == HEADER
    by_number = {row[0]: row for row in rows}
    assert set(by_number) == {
        world["jos"].display_number, world["sams"].display_number, "draft",
    }  # fmt: skip
    jos = by_number[world["jos"].display_number]
    # The recipient's "=" is not a formula in a spreadsheet.
    assert jos[1:4] == ["Bill (payable)", "Partly paid", "'=Jo"]
    assert jos[6:] == ["EUR", "100.00", "10.00", "110.00", "40.00", "70.00"]
    assert by_number["draft"][2] == "Draft"
    assert by_number["draft"][-1] == "0.00"


def test_the_export_follows_the_changelist_filters(client, world):
    client.force_login(world["manager"])
    query = {"status__exact": "issued", "format": "csv"}
    _, *rows = _csv(client.get(EXPORT, query))
    assert [row[0] for row in rows] == [world["sams"].display_number]
    _, *rows = _csv(client.get(EXPORT, {"q": "=Jo", "format": "csv"}))
    assert [row[0] for row in rows] == [world["jos"].display_number]
    # The changelist links to the export with its own query.
    page = client.get(reverse("admin:invoicing_invoice_changelist"), {"q": "Sam"})
    assert f"{EXPORT}?q=Sam&amp;format=csv".encode() in page.content


def test_the_xlsx_holds_numbers(client, world):
    client.force_login(world["manager"])
    response = client.get(EXPORT, {"format": "xlsx", "status__exact": "issued"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert list(header) == HEADER
    assert row[0] == world["sams"].display_number
    assert [float(value) for value in row[7:]] == [200.0, 20.0, 220.0, 0.0, 220.0]


def test_a_party_user_exports_only_their_own_documents(client, world):
    client.force_login(world["jo"].user)
    # Filters and search never widen it.
    for query in ({"q": "Sam"}, {"party__id__exact": world["sams"].party_id}):
        _, *rows = _csv(client.get(EXPORT, {**query, "format": "csv"}))
        assert rows == []
    _, *rows = _csv(client.get(EXPORT, {"format": "csv"}))
    assert [row[0] for row in rows] == [world["jos"].display_number]
    page = client.get(reverse("admin:invoicing_invoice_changelist"))
    assert f"{EXPORT}?&amp;format=xlsx".encode() in page.content


def test_a_user_with_no_organiser_and_no_party_exports_nothing(client, world):
    client.force_login(UserFactory(is_staff=True))
    _, *rows = _csv(client.get(EXPORT, {"format": "csv"}))
    assert rows == []
    client.force_login(UserFactory(is_staff=False))
    assert client.get(EXPORT, {"format": "csv"}).status_code == 302  # to the login


def test_a_bad_filter_or_format_is_refused_not_a_500(client, world):
    client.force_login(world["manager"])
    assert client.get(EXPORT, {"nonsense__exact": "1"}).status_code == 400
    assert client.get(EXPORT, {"format": "pdf"}).status_code == 404
