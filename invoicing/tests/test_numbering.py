"""Gapless numbers per organiser and series, under a lock on the sequence row."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from events.tests.factories import OrganiserFactory
from invoicing.models import Invoice, InvoiceSequence
from invoicing.services import invoice_issue, number_take

from .helpers import draft

THREADS = 32


def _in_threads(work, items):
    barrier = threading.Barrier(len(items))

    def call(item):
        try:
            barrier.wait(timeout=10)
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(call, items))


@pytest.mark.django_db(transaction=True)
def test_32_parallel_issues_take_32_consecutive_numbers():
    organiser = OrganiserFactory(currency="AUD")
    other = OrganiserFactory(currency="AUD")
    drafts = [draft(organiser).pk for _ in range(THREADS)]
    other_draft = draft(other)

    issued = _in_threads(lambda pk: invoice_issue(invoice_id=pk), drafts)

    numbers = sorted(invoice.number for invoice in issued)
    assert numbers == list(range(1, THREADS + 1))  # no gap, no duplicate
    stored = sorted(
        Invoice.objects.filter(organiser=organiser).values_list("number", flat=True)
    )
    assert stored == numbers
    assert InvoiceSequence.objects.get(
        organiser=organiser, series="INV"
    ).next_number == (THREADS + 1)
    # Another organiser's series starts at 1 of its own.
    assert invoice_issue(invoice_id=other_draft.pk).number == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_issue_gives_its_number_back():
    organiser = OrganiserFactory()
    taken = []

    def issue_then_fail():
        with transaction.atomic():
            taken.append(number_take(organiser_id=organiser.pk, series="INV"))
            raise RuntimeError("the issue failed after taking a number")

    with pytest.raises(RuntimeError):
        issue_then_fail()
    assert taken == [1]
    with transaction.atomic():
        assert number_take(organiser_id=organiser.pk, series="INV") == 1
        assert number_take(organiser_id=organiser.pk, series="INV") == 2
        assert number_take(organiser_id=organiser.pk, series="CN") == 1


@pytest.mark.django_db
def test_series_are_separate_and_drafts_have_no_number():
    organiser = OrganiserFactory()
    sale = draft(organiser)
    bill = draft(organiser, type=Invoice.Type.BILL)
    assert sale.number is None
    assert str(sale).endswith("(draft)")
    assert invoice_issue(invoice_id=sale.pk).display_number == "INV-000001"
    assert invoice_issue(invoice_id=bill.pk).display_number == "BILL-000001"
    # Issuing twice is a no-op: the number does not move.
    assert invoice_issue(invoice_id=sale.pk).display_number == "INV-000001"
