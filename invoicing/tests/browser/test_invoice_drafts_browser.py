"""A manager drafts a bill in Chromium: a party picked, two lines (the second added
with the admin's "Add another" button), amounts typed in euros; the draft shows net,
tax and gross per line; issued, it becomes read-only; the list downloads as CSV."""

from __future__ import annotations

import csv
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from playwright.sync_api import expect

from events.tests.factories import (
    MembershipFactory,
    OrganiserFactory,
    TaxRateFactory,
    UserFactory,
)
from invoicing.models import Invoice
from invoicing.tests.factories import PartyFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def test_a_manager_drafts_issues_and_exports_a_bill(page, live_server, shoot):
    organiser = OrganiserFactory(currency="EUR")
    manager = UserFactory(username="manager")
    MembershipFactory(organiser=organiser, user=manager)
    party = PartyFactory(organiser=organiser, name="Jo Comedy")
    vat = TaxRateFactory(organiser=organiser, name="TVA", percent=Decimal("20"))

    page.goto(f"{live_server.url}/admin/login/")
    page.locator("input[name=username]").fill("manager")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/invoicing/invoice/add/")
    page.locator("select[name=type]").select_option("bill")
    page.locator("select[name=party]").select_option(str(party.pk))
    page.locator("select[name=tax_treatment]").select_option("exclusive")
    page.locator("input[name='lines-0-description']").fill("Show fee")
    page.locator("input[name='lines-0-unit_price_minor']").fill("1 200,50")
    page.locator("select[name='lines-0-tax_rate']").select_option(str(vat.pk))
    page.get_by_text("Add another Invoice line").click()
    page.locator("input[name='lines-1-description']").fill("Travel")
    page.locator("input[name='lines-1-quantity']").fill("2")
    page.locator("input[name='lines-1-unit_price_minor']").fill("45")
    shoot(page, "draft-form")
    page.locator("input[name=_continue]").click()

    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    bill = Invoice.objects.get()
    assert (bill.recipient_name, bill.status) == ("Jo Comedy", "draft")
    assert (bill.subtotal_minor, bill.tax_minor, bill.total_minor) == (
        129050,
        24010,
        153060,
    )
    first_line = page.locator("tr.form-row.has_original").first
    expect(first_line.locator("td.field-tax")).to_contain_text("240.10")
    expect(first_line.locator("td.field-gross")).to_contain_text("1,440.60")
    shoot(page, "draft-saved")

    page.goto(f"{live_server.url}/admin/invoicing/invoice/")
    page.locator(f"input[name=_selected_action][value='{bill.pk}']").check()
    page.locator("select[name=action]").select_option("issue")
    page.locator("button[name=index]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("issued")
    bill.refresh_from_db()
    assert bill.display_number == "BILL-000001"

    page.goto(f"{live_server.url}/admin/invoicing/invoice/{bill.pk}/change/")
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("input[name='lines-0-description']")).to_have_count(0)
    shoot(page, "issued-read-only")

    page.goto(f"{live_server.url}/admin/invoicing/invoice/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download_info.value.path()).read_text("utf-8-sig")
    header, row = list(csv.reader(StringIO(text)))
    assert header[0] == "Number"
    assert row[0] == "BILL-000001"
    assert row[7:10] == ["1290.50", "240.10", "1530.60"]
