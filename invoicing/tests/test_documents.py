"""Invoice lifecycle, deposits and settlement, credit notes: figures to the cent."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from events.tests.factories import OrganiserFactory
from invoicing.exceptions import InvoiceError, InvoiceNotEditable
from invoicing.models import Invoice, InvoicePayment, Party
from invoicing.services import (
    LineInput,
    Recipient,
    invoice_create,
    invoice_credit,
    invoice_deposit_issue,
    invoice_issue,
    invoice_lines_replace,
    invoice_payment_record,
    invoice_void,
    settlement_amount,
    settlement_bill_issue,
)

from .helpers import draft, gst

pytestmark = pytest.mark.django_db
Status = Invoice.Status


@pytest.fixture
def organiser():
    return OrganiserFactory(currency="AUD", country="AU", tax_id="ABN 51 824 753 556")


def test_lines_totals_and_status_through_payments(organiser):
    invoice = draft(organiser, due_on=dt.date(2026, 12, 31))
    # Inclusive: 2 × 55.00 = 110.00 → 100.00 + 10.00 GST; 10.00 → 9.09 + 0.91.
    assert [(line.net_minor, line.tax_minor) for line in invoice.lines.all()] == [
        (10000, 1000),
        (909, 91),
    ]
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (
        10909,
        1091,
        12000,
    )
    invoice = invoice_issue(invoice_id=invoice.pk)
    assert invoice.status == Status.ISSUED
    invoice_payment_record(invoice_id=invoice.pk, amount_minor=5000, reference="EFT 1")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due_minor) == (Status.PARTLY_PAID, 7000)
    with pytest.raises(InvoiceError):
        invoice_payment_record(invoice_id=invoice.pk, amount_minor=7001)
    invoice_payment_record(invoice_id=invoice.pk, amount_minor=7000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due_minor, invoice.paid_minor) == (
        Status.PAID,
        0,
        12000,
    )


def test_an_issued_invoice_is_never_edited(organiser):
    invoice = invoice_issue(invoice_id=draft(organiser).pk)
    with pytest.raises(InvoiceNotEditable):
        invoice_lines_replace(invoice_id=invoice.pk, lines=[LineInput("Changed", 100)])
    assert invoice.lines.count() == 2


def test_overdue_is_derived_from_the_due_date(organiser):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    late = invoice_issue(invoice_id=draft(organiser, due_on=yesterday).pk)
    on_time = invoice_issue(invoice_id=draft(organiser, due_on=timezone.localdate()).pk)
    assert late.is_overdue
    assert not on_time.is_overdue
    assert list(Invoice.objects.overdue()) == [late]
    invoice_payment_record(invoice_id=late.pk, amount_minor=late.total_minor)
    late.refresh_from_db()
    assert not late.is_overdue
    assert not Invoice.objects.overdue().exists()


def test_exclusive_treatment_adds_tax(organiser):
    rate = gst(organiser)
    invoice = draft(
        organiser,
        tax_treatment=Invoice.TaxTreatment.EXCLUSIVE,
        lines=[LineInput("Hire", 33333, tax_rate=rate)],
    )
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (
        33333,
        3333,
        36666,
    )


def test_void_a_draft_leaves_no_number_and_an_issued_one_is_credited(organiser):
    first = draft(organiser)
    invoice_void(invoice_id=first.pk)
    first.refresh_from_db()
    assert (first.status, first.number) == (Status.VOID, None)
    issued = invoice_issue(invoice_id=draft(organiser).pk)
    assert issued.number == 1  # the voided draft took no number
    invoice_void(invoice_id=issued.pk, reason="wrong customer")
    issued.refresh_from_db()
    note = issued.children.get(type=Invoice.Type.CREDIT_NOTE)
    assert issued.status == Status.VOID
    assert (note.total_minor, note.tax_minor, note.display_number) == (
        issued.total_minor,
        issued.tax_minor,
        "CN-000001",
    )
    assert note.status == Status.PAID  # it settled the open balance


def test_a_paid_invoice_cannot_be_voided_only_credited(organiser):
    invoice = invoice_issue(invoice_id=draft(organiser).pk)
    invoice_payment_record(invoice_id=invoice.pk, amount_minor=invoice.total_minor)
    with pytest.raises(InvoiceError):
        invoice_void(invoice_id=invoice.pk)
    note = invoice_credit(invoice_id=invoice.pk, amount_minor=3001, refunded=True)
    # The credit is split over the lines in proportion, tax at each line's rate.
    assert note.total_minor == 3001
    assert note.subtotal_minor + note.tax_minor == 3001
    assert note.tax_minor == sum(line.tax_minor for line in note.lines.all())
    assert note.status == Status.PAID
    with pytest.raises(InvoiceError):
        invoice_credit(invoice_id=invoice.pk, amount_minor=12000 - 3001 + 1)


def test_deposit_balance_and_credit_note_reconcile_to_the_cent(organiser):
    rate = gst(organiser)
    reduced = gst(organiser, percent="5.5", name="Reduced")
    main = draft(
        organiser,
        lines=[
            LineInput("Venue hire", 123457, tax_rate=rate, account_code="200"),
            LineInput("Catering", 33331, quantity=3, tax_rate=reduced),
            LineInput("Insurance (exempt)", 9999),
        ],
        deposit_percent=Decimal("33.33"),
        deposit_due_on=dt.date(2026, 12, 1),
    )
    full_total, full_tax = main.total_minor, main.tax_minor

    deposit = invoice_deposit_issue(invoice_id=main.pk)
    assert deposit.type == Invoice.Type.DEPOSIT
    assert deposit.due_on == dt.date(2026, 12, 1)
    assert deposit.total_minor == round(full_total * Decimal("0.3333"))
    with pytest.raises(InvoiceError):  # the balance waits for the deposit
        invoice_issue(invoice_id=main.pk)
    invoice_payment_record(invoice_id=deposit.pk, amount_minor=deposit.total_minor)

    balance = invoice_issue(invoice_id=main.pk)
    assert balance.deposits_deducted_minor == deposit.total_minor
    assert balance.total_minor == full_total - deposit.total_minor
    assert deposit.tax_minor + balance.tax_minor == full_tax
    invoice_payment_record(invoice_id=balance.pk, amount_minor=balance.total_minor)

    note = invoice_credit(invoice_id=balance.pk, amount_minor=10001, refunded=True)
    invoiced = deposit.total_minor + balance.total_minor - note.total_minor
    received = sum(
        p.amount_minor
        for p in InvoicePayment.objects.filter(invoice__in=[deposit, balance])
    )
    refunded = sum(p.amount_minor for p in note.payments.all())
    assert invoiced == full_total - 10001
    assert received - refunded == invoiced
    taxes = deposit.tax_minor + balance.tax_minor - note.tax_minor
    nets = deposit.subtotal_minor + balance.subtotal_minor - note.subtotal_minor
    assert nets + taxes == invoiced
    # Per rate, deposit + balance lines give back exactly the original lines.
    for name in ("GST", "Reduced", ""):
        charged = [
            line
            for document in (deposit, balance)
            for line in document.lines.all()
            if line.tax_name == name
        ]
        original = [
            line
            for line in balance.lines.all()
            if line.tax_name == name and line.total_minor > 0
        ]
        assert sum(line.tax_minor for line in charged) == sum(
            line.tax_minor for line in original
        )
        assert sum(line.total_minor for line in charged) == sum(
            line.total_minor for line in original
        )


def test_performer_deal_deposit_now_settlement_after_the_event(organiser):
    performer = Party.objects.create(
        organiser=organiser,
        kind=Party.Kind.PERFORMER,
        name="Jo Comedian",
        email="jo@example.org",
        tax_id="ABN 11 222 333 444",
    )
    rate = gst(organiser)
    bill = invoice_create(
        organiser=organiser,
        type=Invoice.Type.BILL,
        recipient=Recipient.of_party(performer),
        party=performer,
        currency="AUD",
        lines=[LineInput("Guarantee", 50000, tax_rate=rate, account_code="310")],
        deposit_minor=20000,
        deposit_due_on=dt.date(2026, 11, 1),
    )
    deposit = invoice_deposit_issue(invoice_id=bill.pk)
    assert deposit.display_number == "BILL-000001"
    invoice_payment_record(invoice_id=deposit.pk, amount_minor=20000)

    # 70 % of 1,000.00 net sales after 100.00 costs = 630.00 > 500.00 guarantee.
    assert (
        settlement_amount(
            net_sales_minor=100000,
            share_percent=Decimal("70"),
            guarantee_minor=50000,
            costs_minor=10000,
        )
        == 63000
    )
    settled = settlement_bill_issue(
        bill_id=bill.pk,
        net_sales_minor=100000,
        share_percent=Decimal("70"),
        guarantee_minor=50000,
        costs_minor=10000,
    )
    assert settled.display_number == "BILL-000002"
    assert settled.total_minor == 63000 - 20000
    assert deposit.tax_minor + settled.tax_minor == 5727  # 630.00 incl. 10 % GST
    assert (
        settlement_amount(
            net_sales_minor=30000, share_percent=Decimal("70"), guarantee_minor=50000
        )
        == 50000
    )
