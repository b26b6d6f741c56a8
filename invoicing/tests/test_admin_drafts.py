"""An organiser's owner or manager types a draft sales invoice, bill or deposit
invoice in the back office (lines inline, amounts in currency units), edits it,
then issues it; from then on it is read-only. Tenancy: another organiser's manager
neither sees nor writes them; a party's user only reads their own."""

import pytest
from django.urls import reverse

from events.models import Membership
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from invoicing.models import Invoice, InvoiceLine

from .factories import PartyFactory
from .helpers import gst

pytestmark = pytest.mark.django_db


def _url(view, *args):
    return reverse(f"admin:invoicing_invoice_{view}", args=args)


@pytest.fixture
def shop():
    organiser = OrganiserFactory(currency="EUR")
    manager = MembershipFactory(organiser=organiser).user
    jo = PartyFactory(
        organiser=organiser,
        name="Jo Comedy",
        address="2 rue Oberkampf",
        user=UserFactory(),
    )
    return {
        "organiser": organiser,
        "manager": manager,
        "jo": jo,
        "vat": gst(organiser, "20", "VAT"),
    }


def _post(shop, lines, **fields):
    data = {
        "type": "bill",
        "party": shop["jo"].pk,
        "recipient_name": "",
        "recipient_address": "",
        "recipient_email": "",
        "recipient_tax_id": "",
        "language": "fr",
        "currency": "EUR",
        "tax_treatment": "exclusive",
        "due_on": "2027-01-31",
        "notes": "",
        "payments-TOTAL_FORMS": "0",  # the change form has them (read-only)
        "payments-INITIAL_FORMS": "0",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
    }
    for i, line in enumerate(lines):
        for name, value in line.items():
            data[f"lines-{i}-{name}"] = value
    data.update(fields)
    return data


def _management_forms(client, url) -> dict[str, str]:
    """The management fields of every inline the page renders, as a browser posts
    them back: apps above invoicing add inlines of their own (Xero's state)."""
    data = {}
    for inline in client.get(url).context["inline_admin_formsets"]:
        form = inline.formset.management_form
        for name in form.fields:
            data[f"{form.prefix}-{name}"] = form[name].value()
    return data


def _line(description, price, quantity="1", tax_rate="", **extra):
    return {
        "description": description,
        "quantity": quantity,
        "unit_price_minor": price,
        "tax_rate": tax_rate,
        "account_code": "",
        **extra,
    }


def test_a_manager_drafts_a_bill_edits_it_and_issues_it(client, shop):
    client.force_login(shop["manager"])
    vat = shop["vat"].pk
    form = client.get(_url("add"))
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["currency"] == "EUR"
    assert b'name="lines-0-unit_price_minor"' in form.content
    response = client.post(
        _url("add"),
        _post(
            shop,
            [
                _line("Show fee", "1 500,50", tax_rate=vat),
                _line("Travel", "90.00", "2"),
            ],
        ),
    )
    assert response.status_code == 302, response.context["errors"]

    bill = Invoice.objects.get()
    assert (bill.type, bill.status, bill.series, bill.number) == (
        "bill",
        "draft",
        "BILL",
        None,
    )
    assert bill.organiser == shop["organiser"]
    # The recipient was left empty: the party's details are copied.
    assert (bill.recipient_name, bill.recipient_address) == (
        "Jo Comedy",
        "2 rue Oberkampf",
    )
    assert bill.recipient_email == shop["jo"].email
    fee, travel = bill.lines.all()
    assert (fee.unit_price_minor, fee.net_minor, fee.tax_minor) == (
        150050,
        150050,
        30010,
    )
    assert (travel.quantity, travel.net_minor, travel.tax_minor) == (2, 18000, 0)
    assert (bill.subtotal_minor, bill.tax_minor, bill.total_minor) == (
        168050,
        30010,
        198060,
    )

    # A draft is edited: the fee changes, the travel line is deleted.
    data = _post(
        shop,
        [
            _line("Show fee", "1000", tax_rate=vat, id=fee.pk, invoice=bill.pk),
            _line("Travel", "90.00", "2", id=travel.pk, invoice=bill.pk, DELETE="on"),
        ],
        **{"lines-INITIAL_FORMS": "2", "organiser": shop["organiser"].pk},
    )
    data = {**_management_forms(client, _url("change", bill.pk)), **data}
    assert client.post(_url("change", bill.pk), data).status_code == 302
    bill.refresh_from_db()
    assert [line.description for line in bill.lines.all()] == ["Show fee"]
    page = client.get(_url("change", bill.pk))
    assert b'value="1000.00"' in page.content  # typed back in currency units
    assert (bill.subtotal_minor, bill.tax_minor, bill.total_minor) == (
        100000,
        20000,
        120000,
    )

    client.post(_url("changelist"), {"action": "issue", "_selected_action": [bill.pk]})
    bill.refresh_from_db()
    assert (bill.status, bill.display_number) == ("issued", "BILL-000001")

    # Issued: read-only, no save button, a post changes nothing.
    page = client.get(_url("change", bill.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert b'name="lines-0-description"' not in page.content
    client.post(_url("change", bill.pk), {**data, "recipient_name": "Changed"})
    # Another post shape: refused (the form again), never a 500, nothing written.
    response = client.post(
        _url("change", bill.pk),
        {
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "payments-TOTAL_FORMS": "0",
            "payments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    bill.refresh_from_db()
    assert bill.recipient_name == "Jo Comedy"
    assert bill.total_minor == 120000


def test_a_sales_invoice_to_a_typed_recipient_and_a_deposit_invoice(client, shop):
    client.force_login(shop["manager"])
    for kind in ("sales", "deposit"):
        data = _post(
            shop,
            [_line("Private show", "2400", tax_rate=shop["vat"].pk)],
            type=kind,
            party="",
            recipient_name="Acme SARL",
            recipient_tax_id="FR123",
            tax_treatment="inclusive",
        )
        assert client.post(_url("add"), data).status_code == 302
    sales, deposit = Invoice.objects.order_by("pk")
    assert (sales.type, sales.series, deposit.type, deposit.series) == (
        "sales",
        "INV",
        "deposit",
        "INV",
    )
    assert (sales.recipient_name, sales.recipient_tax_id, sales.party) == (
        "Acme SARL",
        "FR123",
        None,
    )
    assert (sales.subtotal_minor, sales.tax_minor, sales.total_minor) == (
        200000,
        40000,
        240000,
    )


def test_a_draft_with_deposit_terms_issues_its_deposit_invoice(client, shop):
    client.force_login(shop["manager"])
    data = _post(
        shop,
        [_line("Show fee", "1000", tax_rate=shop["vat"].pk)],
        deposit_percent="30",
        deposit_due_on="2027-01-10",
    )
    assert client.post(_url("add"), data).status_code == 302
    bill = Invoice.objects.get()
    client.post(
        _url("changelist"), {"action": "issue_deposit", "_selected_action": [bill.pk]}
    )
    deposit = Invoice.objects.get(type="deposit")
    assert (deposit.parent, deposit.status, deposit.total_minor) == (
        bill,
        "issued",
        36000,
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"party": ""}, "party", "A bill is addressed to a performer or promoter"),
        ({"type": "sales", "party": ""}, "recipient_name", "Choose a party or type"),
        ({"lines-0-unit_price_minor": "12.3456"}, None, "at most 2 decimals"),
        ({"lines-0-unit_price_minor": "twelve"}, None, "Enter an amount such as 90.00"),
        ({"currency": "E1R"}, "currency", "three-letter ISO 4217"),
        ({"lines-TOTAL_FORMS": "0"}, None, "Add at least one line."),
    ],
)
def test_bad_input_is_refused_with_a_message(client, shop, change, field, message):
    client.force_login(shop["manager"])
    data = _post(shop, [_line("Show fee", "100")], **change)
    page = client.post(_url("add"), data)
    assert page.status_code == 200
    assert message.encode() in page.content
    if field:
        assert field in page.context["adminform"].form.errors
    assert not Invoice.objects.exists()


def test_another_organisers_manager_neither_sees_nor_writes(client, shop):
    client.force_login(shop["manager"])
    client.post(_url("add"), _post(shop, [_line("Show fee", "100")]))
    draft = Invoice.objects.get()

    stranger = MembershipFactory(organiser=OrganiserFactory()).user
    client.force_login(stranger)
    page = client.get(_url("changelist"))
    assert list(page.context["cl"].result_list) == []
    assert client.get(_url("change", draft.pk)).status_code == 302  # "doesn't exist"
    # Posting the other organiser's draft, party or tax rate changes nothing.
    data = _post(
        shop,
        [_line("Mine now", "1", tax_rate=shop["vat"].pk)],
        organiser=shop["organiser"].pk,
    )
    client.post(_url("change", draft.pk), data)
    assert client.post(_url("add"), data).status_code == 200
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.get().description == "Show fee"


@pytest.mark.parametrize("role", [Membership.Role.STAFF, Membership.Role.VIEWER])
def test_staff_and_viewers_cannot_add(client, shop, role):
    client.force_login(MembershipFactory(organiser=shop["organiser"], role=role).user)
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("add"), _post(shop, [_line("Fee", "1")])).status_code == 403
    assert not Invoice.objects.exists()


def test_a_party_user_reads_their_draft_and_cannot_write(client, shop):
    client.force_login(shop["manager"])
    client.post(_url("add"), _post(shop, [_line("Show fee", "100")]))
    draft = Invoice.objects.get()

    client.force_login(shop["jo"].user)
    page = client.get(_url("change", draft.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(_url("add")).status_code == 403
    client.post(_url("change", draft.pk), _post(shop, [_line("Changed", "1")]))
    assert InvoiceLine.objects.get().description == "Show fee"


def test_the_draft_service_refuses_a_document_issued_meanwhile(shop):
    from invoicing.exceptions import InvoiceNotEditable
    from invoicing.services import LineInput, invoice_draft_save, invoice_issue

    from .helpers import bill

    issued = bill(shop["jo"], 1000)
    stale = Invoice.objects.get(pk=issued.pk)
    stale.status = Invoice.Status.DRAFT  # as the form loaded it before the issue
    with pytest.raises(InvoiceNotEditable):
        invoice_draft_save(invoice=stale, lines=[LineInput("Changed", 1)])
    assert InvoiceLine.objects.get(invoice=issued).description == "Fee"
    assert invoice_issue(invoice_id=issued.pk).total_minor == 1000


def test_in_french_the_void_action_is_a_verb_and_the_status_a_participle():
    """One English word, two French ones: the action button and the status."""
    from django.utils import translation

    from invoicing.admin import InvoiceAdmin

    with translation.override("fr"):
        assert str(InvoiceAdmin.void.short_description) == "Annuler"
        assert str(Invoice.Status.VOID.label) == "Annulé"


def test_amounts_in_the_invoice_list_and_draft_read_as_the_organisers_language(
    client, shop
):
    """The bookings list says "90,00 €" in French: the invoices list and a draft's
    totals say it the same way, not "121.00 EUR"."""
    from .helpers import draft

    document = draft(shop["organiser"])
    client.force_login(shop["manager"])
    french = {"HTTP_ACCEPT_LANGUAGE": "fr"}

    listing = client.get(_url("changelist"), **french).content.decode()
    assert f"{document.total_minor // 100},{document.total_minor % 100:02d}\xa0€" in (
        listing.replace("&nbsp;", "\xa0")
    )
    assert " EUR<" not in listing
    assert "Par échéance" in listing  # the overdue filter, not "Par en retard"

    page = client.get(_url("change", document.pk), **french).content.decode()
    assert "\xa0€" in page.replace("&nbsp;", "\xa0")
    assert " EUR<" not in page
