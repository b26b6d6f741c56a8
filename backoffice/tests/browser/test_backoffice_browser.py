"""The demo organiser's day in admin, in Chromium against the live server: the
dashboard, a report filtered to one date checked against the database, and a CSV
download. The dashboard and the report are also saved to docs/screenshots/."""

from __future__ import annotations

import csv
import os
import tempfile
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from playwright.sync_api import expect

from backoffice.sold import counted_as_sold
from bookings.models import Booking
from events.models import Session
from integrations.models import ExternalOrder

pytestmark = pytest.mark.django_db(transaction=True)

# The README's screenshots are refreshed only when asked (SAVE_DOC_SCREENSHOTS=1): a
# test run must not rewrite tracked files.
SCREENSHOTS = (
    Path(settings.BASE_DIR) / "docs" / "screenshots"
    if os.environ.get("SAVE_DOC_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "ticketing-screenshots"
)


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    settings.SITE_URL = "http://127.0.0.1:8000"
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    settings.DEBUG = False
    return Session.objects.select_related("event", "venue").get(
        event__slug="masterclass", venue__city="Paris"
    )


def _sold_here(session, **filters) -> int:
    return (
        Booking.objects.filter(
            counted_as_sold(), session=session, confirmed_at__isnull=False, **filters
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )


def _sold_on_platforms(session) -> int:
    return (
        ExternalOrder.objects.filter(
            listing__session=session, status=ExternalOrder.Status.ACTIVE
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )


def test_the_demo_organiser_sees_sales_a_report_and_downloads_a_csv(
    page, live_server, shoot, demo
):
    paris = demo
    page.goto(f"{live_server.url}/admin/login/")
    page.locator("input[name=username]").fill("paris-manager")
    page.locator("input[name=password]").fill("paris-demo-2026")
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/admin/")

    # The dashboard: the seeded sales by channel, a fill bar and a chart.
    expect(page.locator("#bo-title")).to_have_text("Sales")
    row = page.locator(f"tr[data-session='{paris.pk}']")
    expect(row.locator("td[data-channel=web]")).to_have_text(
        str(_sold_here(paris, channel="web"))
    )
    expect(row.locator("td[data-channel=api]")).to_have_text(
        str(_sold_here(paris, channel="api"))
    )
    expect(row.locator("td[data-channel=billetweb]")).to_have_text(
        str(paris.platform_listings.get().places_sold)
    )
    expect(row.locator("svg.fill-bar")).to_be_visible()
    chart = page.locator(f"figure[data-event='{paris.event_id}'] svg.daily-chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect.ch-web").count() >= 1
    assert chart.locator("rect.ch-billetweb").count() >= 1
    shoot(page, "dashboard")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # A sales report by channel for the Paris date only.
    page.get_by_role("link", name="Sales", exact=True).click()
    page.wait_for_url("**/admin/reports/sales/**")
    page.locator("select[name=session]").select_option(str(paris.pk))
    page.locator("select[name=group]").select_option("channel")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**group=channel**")
    totals = page.locator("tr[data-testid=totals]")
    expected = _sold_here(paris) + _sold_on_platforms(paris)
    expect(totals.locator("td[data-column=tickets]")).to_have_text(str(expected))
    web_row = page.locator("#report tbody tr", has_text="Web shop")
    expect(web_row.locator("td[data-column=tickets]")).to_have_text(
        str(_sold_here(paris, channel="web"))
    )
    expect(page.locator("#report tbody")).not_to_contain_text("Lagos")
    shoot(page, "report")
    page.screenshot(path=str(SCREENSHOTS / "report-sales.png"), full_page=True)

    # The CSV of that report downloads and says the same.
    with page.expect_download() as download_info:
        page.locator("[data-testid=export-csv]").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(StringIO(Path(download.path()).read_text("utf-8-sig"))))
    assert rows[0][:2] == ["Channel", "Tickets"]
    # The demo's platform orders carry no amounts: the total says it leaves them out.
    assert rows[-1][:2] == ["Total (without the amounts not reported)", str(expected)]
