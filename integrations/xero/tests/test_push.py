"""Pushing invoices, bills, credit notes and payments to the fake Xero through the
outbox."""

import time
from decimal import Decimal

import pytest

from integrations.xero import mapping
from integrations.xero.models import (
    XeroContact,
    XeroDocument,
    XeroPayment,
    XeroTaxMapping,
)
from integrations.xero.services.push import PUSH_KIND, push_again
from invoicing.models import Invoice
from invoicing.services import (
    LineInput,
    Recipient,
    invoice_create,
    invoice_credit,
    invoice_issue,
    invoice_payment_record,
    invoice_void,
)
from invoicing.tests.factories import PartyFactory
from ticketing.models import Alert, OutboxMessage

from .conftest import push_all

pytestmark = pytest.mark.django_db

BUYER = Recipient("Acme Pty Ltd", "1 George St\nSydney NSW 2000", "ap@acme.test")


def _sales(organiser, rates, **kwargs) -> Invoice:
    """Issued: 2 tickets at 55.00 with GST 10 %, a programme at 10.50 at 5 %."""
    draft = invoice_create(
        organiser=organiser,
        type=Invoice.Type.SALES,
        recipient=BUYER,
        currency="AUD",
        lines=[
            LineInput("Comedy night ticket", 5500, quantity=2, tax_rate=rates["gst"]),
            LineInput("Programme", 1050, tax_rate=rates["reduced"]),
        ],
        tax_treatment=Invoice.TaxTreatment.INCLUSIVE,
        **kwargs,
    )
    return invoice_issue(invoice_id=draft.pk)


def test_an_invoice_with_two_tax_rates(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    lines = list(invoice.lines.all())

    assert push_all() == 1

    [remote] = xero_fake.invoices.values()
    assert remote["Type"] == "ACCREC"
    assert remote["Status"] == "AUTHORISED"
    assert remote["InvoiceNumber"] == invoice.display_number
    assert remote["LineAmountTypes"] == "Inclusive"
    assert remote["CurrencyCode"] == "AUD"
    assert [
        (i["TaxType"], i["AccountCode"], i["Quantity"], i["UnitAmount"], i["TaxAmount"])
        for i in remote["LineItems"]
    ] == [
        ("OUTPUT", "200", 2, Decimal("55.00"), Decimal(lines[0].tax_minor) / 100),
        ("TAX002", "200", 1, Decimal("10.50"), Decimal(lines[1].tax_minor) / 100),
    ]
    assert remote["Total"] == Decimal(invoice.total_minor) / 100
    assert remote["TotalTax"] == Decimal(invoice.tax_minor) / 100
    contact = xero_fake.contacts[remote["Contact"]["ContactID"]]
    assert contact["Name"] == "Acme Pty Ltd (ap@acme.test)"
    assert contact["EmailAddress"] == "ap@acme.test"
    assert contact["IsCustomer"] is True

    document = XeroDocument.objects.get(invoice=invoice)
    assert (document.state, document.xero_id, document.xero_status) == (
        "pushed",
        remote["InvoiceID"],
        "AUTHORISED",
    )
    assert document.attempts == 1
    assert document.pushed_at
    connected.refresh_from_db()
    assert connected.last_push_at is not None
    # Xero's day quota as its last answer told it: 5,000 less the 5 calls so far.
    assert connected.day_calls_left == 5000 - 5
    # Every create carried the outbox row's key.
    puts = [r for r in xero_fake.calls("/api.xro") if r.method == "PUT"]
    assert all(r.headers["idempotency-key"].startswith("outbox-") for r in puts)


def test_a_payment_is_recorded_in_xero_once(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    push_all()
    payment = invoice_payment_record(invoice_id=invoice.pk, amount_minor=5000)

    push_all()

    [remote_payment] = xero_fake.payments.values()
    assert remote_payment["Amount"] == Decimal("50.00")
    assert remote_payment["Account"] == {"Code": "090"}
    remote = next(iter(xero_fake.invoices.values()))
    assert remote["AmountPaid"] == Decimal("50.00")
    assert XeroPayment.objects.get(payment=payment).direction == "pushed"

    # The rest of it: Xero's invoice is paid; nothing is sent twice.
    invoice_payment_record(
        invoice_id=invoice.pk, amount_minor=invoice.total_minor - 5000
    )
    push_all()
    push_all()
    assert remote["Status"] == "PAID"
    assert len(xero_fake.payments) == 2
    assert len(xero_fake.invoices) == 1
    assert len([r for r in xero_fake.calls("/Contacts") if r.method == "PUT"]) == 1


def test_a_refund_is_a_credit_note_paid_out(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    invoice_payment_record(invoice_id=invoice.pk, amount_minor=invoice.total_minor)
    push_all()

    note = invoice_credit(
        invoice_id=invoice.pk, amount_minor=5500, refunded=True, refund_reference="re_1"
    )
    push_all()

    [remote_note] = xero_fake.credit_notes.values()
    assert remote_note["Type"] == "ACCRECCREDIT"
    assert remote_note["CreditNoteNumber"] == note.display_number
    assert remote_note["Total"] == Decimal("55.00")
    assert remote_note["Allocations"] == []  # the invoice was paid: money went back
    [refund] = [p for p in xero_fake.payments.values() if "CreditNote" in p]
    assert refund["Amount"] == Decimal("55.00")
    assert remote_note["Status"] == "PAID"
    assert XeroDocument.objects.get(invoice=note).state == "pushed"


def test_a_credit_on_an_open_invoice_is_allocated_to_it(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    push_all()
    invoice_credit(invoice_id=invoice.pk, amount_minor=2000)
    push_all()

    [remote_note] = xero_fake.credit_notes.values()
    remote = xero_fake.invoices[XeroDocument.objects.get(invoice=invoice).xero_id]
    assert [a["Amount"] for a in remote_note["Allocations"]] == [Decimal("20.00")]
    assert remote["AmountDue"] == Decimal(invoice.total_minor - 2000) / 100


def test_a_bill_goes_to_accounts_payable(connected, rates, xero_fake):
    party = PartyFactory(organiser=connected.organiser, name="The Band")
    bill = invoice_create(
        organiser=connected.organiser,
        type=Invoice.Type.BILL,
        recipient=Recipient.of_party(party),
        party=party,
        currency="AUD",
        lines=[LineInput("Performance fee", 100000)],
        tax_treatment=Invoice.TaxTreatment.NO_TAX,
    )
    invoice_issue(invoice_id=bill.pk)
    push_all()

    [remote] = xero_fake.invoices.values()
    assert remote["Type"] == "ACCPAY"
    assert remote["LineAmountTypes"] == "NoTax"
    assert remote["LineItems"][0]["AccountCode"] == "310"
    contact = xero_fake.contacts[remote["Contact"]["ContactID"]]
    assert (contact["Name"], contact["IsSupplier"]) == ("The Band", True)
    assert XeroContact.objects.get(connection=connected).contact_number == (
        f"party-{party.pk}"
    )


def test_a_void_voids_it_in_xero_and_its_credit_note_stays_here(
    connected, rates, xero_fake
):
    invoice = _sales(connected.organiser, rates)
    push_all()
    invoice_void(invoice_id=invoice.pk, reason="Cancelled show")
    push_all()

    [remote] = xero_fake.invoices.values()
    assert remote["Status"] == "VOIDED"
    assert xero_fake.credit_notes == {}
    note = invoice.children.get()
    assert XeroDocument.objects.get(invoice=note).state == "skipped"


def test_validation_errors_are_shown_in_words_and_not_retried(
    connected, rates, xero_fake
):
    draft = invoice_create(
        organiser=connected.organiser,
        type=Invoice.Type.SALES,
        recipient=BUYER,
        currency="AUD",
        lines=[LineInput("Merch", 2000, tax_rate=rates["gst"], account_code="999")],
    )
    invoice = invoice_issue(invoice_id=draft.pk)

    push_all()
    push_all()

    document = XeroDocument.objects.get(invoice=invoice)
    assert document.state == "failed"
    assert document.last_error == (
        "Account code '999' is not a valid code for this document."
    )
    row = OutboxMessage.objects.get(kind=PUSH_KIND, key=f"invoice:{invoice.pk}")
    assert row.status == "dead"
    assert row.attempts == 1
    alert = Alert.objects.get(kind="xero.push_failed")
    assert "999" in alert.message
    assert alert.organiser_id == connected.organiser_id
    assert alert.link == f"/admin/invoicing/invoice/{invoice.pk}/change/"
    assert alert.get_kind_display() == "Xero refused a document"
    assert len([r for r in xero_fake.calls("/Invoices") if r.method == "PUT"]) == 1
    assert xero_fake.invoices == {}


def test_an_unmapped_tax_rate_is_named_to_the_organiser(connected, xero_fake):
    from events.models import TaxRate

    vat = TaxRate.objects.create(organiser=connected.organiser, name="VAT", percent=20)
    draft = invoice_create(
        organiser=connected.organiser,
        type=Invoice.Type.SALES,
        recipient=BUYER,
        currency="AUD",
        lines=[LineInput("Merch", 2000, tax_rate=vat)],
    )
    invoice = invoice_issue(invoice_id=draft.pk)
    push_all()

    document = XeroDocument.objects.get(invoice=invoice)
    assert document.state == "failed"
    assert document.last_error == (
        "Map the tax rate “VAT” to a Xero tax type in the Xero settings."
    )
    assert xero_fake.calls("/Invoices") == []

    # The organiser maps it and pushes again: it goes, and the alert is resolved.
    XeroTaxMapping.objects.create(connection=connected, tax_rate=vat, tax_type="OUTPUT")
    assert push_again(invoice_ids=[invoice.pk]) == 1
    push_all()
    document.refresh_from_db()
    assert document.state == "pushed"
    assert len(xero_fake.invoices) == 1
    assert Alert.objects.get(kind="xero.push_failed").resolved_at is not None


def test_429_waits_for_retry_after_then_pushes_once(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    # Contact lookup, contact create, then the invoice answers 429.
    xero_fake.rate_limit_next()  # the lookup
    started = time.time()
    push_all(rounds=1)

    row = OutboxMessage.objects.get(kind=PUSH_KIND, key=f"invoice:{invoice.pk}")
    assert row.status == "pending"
    assert row.next_attempt_at.timestamp() - started >= 7 - 0.5  # its Retry-After
    document = XeroDocument.objects.get(invoice=invoice)
    assert "429" in document.last_error
    assert "minute" in document.last_error

    push_all()
    assert len(xero_fake.invoices) == 1
    document.refresh_from_db()
    assert (document.state, document.attempts) == ("pushed", 2)


def test_an_answer_lost_to_a_timeout_does_not_make_a_second_invoice(
    connected, rates, xero_fake, settings
):
    settings.INTEGRATIONS_HTTP_TIMEOUT = (1.0, 0.3)
    invoice = _sales(connected.organiser, rates)
    # The contact exists already, so the invoice is the first call.
    xero_fake.contacts["c1"] = {"ContactID": "c1", "Name": "Acme", "_updated": 0}
    XeroContact.objects.create(
        connection=connected,
        contact_number=mapping.contact_number(invoice),
        contact_id="c1",
        name="Acme",
    )
    xero_fake.call_seconds = 0.6  # Xero creates it, but answers too late
    push_all(rounds=1)
    time.sleep(0.5)  # the first request finishes in the fake
    xero_fake.call_seconds = 0
    push_all()

    assert len(xero_fake.invoices) == 1
    [key] = {
        r.headers["idempotency-key"]
        for r in xero_fake.calls("/Invoices")
        if r.method == "PUT"
    }
    assert xero_fake.key_uses[key] == 2  # sent twice, created once
    assert XeroDocument.objects.get(invoice=invoice).xero_id == next(
        iter(xero_fake.invoices)
    )


def test_nothing_is_pushed_without_a_connection(organiser, rates, xero_fake):
    _sales(organiser, rates)
    assert not OutboxMessage.objects.filter(kind=PUSH_KIND).exists()
    assert xero_fake.requests == []


def test_crediting_an_invoice_from_before_connecting_pushes_the_invoice_first(
    organiser, rates, xero_fake
):
    from .conftest import connect_organiser

    invoice = _sales(organiser, rates)  # not connected yet: not pushed
    connect_organiser(organiser, rates, xero_fake)
    invoice_credit(invoice_id=invoice.pk, amount_minor=1000)

    push_all()

    [remote] = xero_fake.invoices.values()
    [remote_note] = xero_fake.credit_notes.values()
    assert remote["InvoiceNumber"] == invoice.display_number
    assert [a["Amount"] for a in remote_note["Allocations"]] == [Decimal("10.00")]


def test_access_revoked_at_xero_waits_for_reconnecting(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    xero_fake.expire_access_tokens()  # revoked from Xero's side

    push_all(rounds=1)

    row = OutboxMessage.objects.get(kind=PUSH_KIND, key=f"invoice:{invoice.pk}")
    assert row.status == "pending"  # retried, not dead
    connected.refresh_from_db()
    assert connected.status == "broken"
    assert Alert.objects.get(kind="xero.connection_broken").count == 1
    assert XeroDocument.objects.get(invoice=invoice).last_error == (
        "Xero refused the credentials (401)"
    )
    assert xero_fake.invoices == {}
