"""Reports: a known set of sales, every cell checked; tenancy."""

import datetime as dt

import pytest
from django.utils import timezone

from backoffice.reports.filters import Filters
from backoffice.reports.payouts import payouts_report
from backoffice.reports.sales import sales_report
from backoffice.reports.sync_history import sync_history_report
from backoffice.scope import Scope
from backoffice.selectors import dashboard_get
from bookings.models import Booking
from bookings.services import booking_cancel
from bookings.tests.factories import DiscountCodeFactory
from events.models import Membership
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
)
from integrations.models import Platform, SyncRun
from integrations.tests.factories import SyncRunFactory
from payments.tests.factories import PaymentFactory, RefundFactory

from .world import booked, platform_sale, sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def known():
    """The sales whose every figure the tests below check (EUR)."""
    organiser = OrganiserFactory()
    first = SessionFactory(event=EventFactory(organiser=organiser, title="Opera"))
    second = SessionFactory(event=EventFactory(organiser=organiser, title="Ballet"))
    a = TicketTypeFactory(event=first.event, name="A", price_minor=4500)
    b = TicketTypeFactory(event=first.event, name="B", price_minor=2000)
    c = TicketTypeFactory(event=second.event, name="C", price_minor=1000)
    DiscountCodeFactory(organiser=organiser, code="TEN", percent=10)

    web = booked(first, [(a, 2), (b, 1)], code="TEN")  # 9000-900 + 2000-200 = 9900
    payment = PaymentFactory(
        organiser=organiser,
        booking=web,
        status="succeeded",
        succeeded_at=timezone.now(),
        refunded_minor=1000,
    )
    RefundFactory(
        organiser=organiser, payment=payment, amount_minor=1000, status="succeeded"
    )
    RefundFactory(  # not succeeded: not a refund yet
        organiser=organiser, payment=payment, amount_minor=500, status="pending"
    )
    booked(first, [(a, 1)], channel="api")  # 4500
    booked(second, [(c, 3)], channel="admin")  # paid offline, 3000
    booked(second, [(c, 2)], channel="admin", comp=True)  # 2 comps
    platform_sale(first, 2, Platform.BILLETWEB).__class__.objects.filter(
        listing__session=first
    ).update(total_minor=7000, currency="EUR")
    platform_sale(second, 1, Platform.HUMANITIX)  # no total reported

    # Paid by card, then cancelled and refunded in full: a sale, with its refund.
    returned = booked(second, [(c, 1)])  # 1000
    RefundFactory(
        organiser=organiser,
        payment=PaymentFactory(
            organiser=organiser,
            booking=returned,
            status="succeeded",
            succeeded_at=timezone.now(),
            refunded_minor=1000,
        ),
        amount_minor=1000,
        status="succeeded",
    )
    booking_cancel(booking_id=returned.pk, reason="refunded")

    # Not in the report: a hold, a sale before the period, another organiser's,
    # and sales no provider took money for, cancelled since (an offline sale, a comp).
    booked(first, [(a, 1)], confirm=False)
    for offline in (
        booked(second, [(c, 3)], channel="admin"),
        booked(second, [(c, 1)], channel="admin", comp=True),
    ):
        booking_cancel(booking_id=offline.pk, reason="changed their mind")
    old = booked(second, [(c, 1)], channel="api")
    Booking.objects.filter(pk=old.pk).update(
        confirmed_at=timezone.now() - dt.timedelta(days=40)
    )
    other = SessionFactory()
    booked(other, [(TicketTypeFactory(event=other.event, price_minor=999), 1)])
    return {"organiser": organiser, "first": first, "second": second}


def _scope(organiser):
    return Scope(organiser_ids=[organiser.pk], organisers=[organiser], selected=None)


def _filters(**kwargs):
    now = timezone.now()
    return Filters(
        start=now - dt.timedelta(days=30), end=now + dt.timedelta(days=1), **kwargs
    )


# No tax in these sales: gross (tax included) is the net too.
COLUMNS = ("tickets", "comps", "list", "discounts", "refunds", "gross")
# Humanitix reported no total for its order: a ticket, and no amount (not a zero).
UNREPORTED = (1, 0, None, None, None, None)


def _cells(table):
    return {row["group"]: tuple(row[key] for key in COLUMNS) for row in table.rows} | {
        "TOTAL": tuple(table.totals[0][key] for key in COLUMNS)
    }


def test_sales_by_channel_every_cell_and_channels_sum_to_the_total(known):
    table = sales_report(_scope(known["organiser"]), _filters(), "channel")
    assert _cells(table) == {
        "Web shop": (4, 0, 12000, 1100, 2000, 8900),
        "Partner API": (1, 0, 4500, 0, 0, 4500),
        "Back office (paid offline)": (3, 0, 3000, 0, 0, 3000),
        "Comps": (2, 2, 0, 0, 0, 0),
        "Billetweb": (2, 0, 7000, 0, 0, 7000),
        "Humanitix": UNREPORTED,
        "TOTAL": (13, 2, 26500, 1100, 2000, 23400),
    }
    assert [t["currency"] for t in table.totals] == ["EUR"]
    for row in [*table.rows, *table.totals]:
        if row["list"] is None:
            continue
        assert row["gross"] == row["list"] - row["discounts"] - row["refunds"]
        assert (row["tax"], row["net"]) == (0, row["gross"])
    # The totals say they leave out what Humanitix did not report.
    assert [row["unpriced"] for row in table.rows if row["group"] == "Humanitix"] == [1]
    assert table.totals[0]["unpriced"] == 1
    assert table.totals[0]["group"] == "Total (without the amounts not reported)"
    assert any("did not report" in note for note in table.notes)


def test_the_dashboard_counts_what_the_report_counts(known):
    """Tickets and revenue on the admin home are the report's tickets and gross
    for this site: the cancelled offline sale and comp in neither, the refunded
    card sale's tickets in both and its money in neither."""
    scope = _scope(known["organiser"])
    [totals] = dashboard_get(scope).totals
    here = _cells(sales_report(scope, _filters(), "platform"))["This site"]
    assert (totals.tickets["30d"], totals.revenue["30d"]) == (here[0], here[-1])
    assert (totals.tickets["30d"], totals.revenue["30d"]) == (10, 16400)


def test_sales_by_ticket_type_share_the_refund_to_the_cent(known):
    table = sales_report(_scope(known["organiser"]), _filters(), "ticket_type")
    # The 10.00 refund of a 99.00 booking: 81.00/99.00 of it is 8.1818.. on A,
    # 18.00/99.00 is 1.8181.. on B; the cent left over goes to the larger remainder.
    assert _cells(table) == {
        "Opera · A": (3, 0, 13500, 900, 818, 11782),
        "Opera · B": (1, 0, 2000, 200, 182, 1618),
        "Ballet · C": (6, 2, 4000, 0, 1000, 3000),
        "Opera · Billetweb": (2, 0, 7000, 0, 0, 7000),
        "Ballet · Humanitix": UNREPORTED,
        "TOTAL": (13, 2, 26500, 1100, 2000, 23400),
    }


def test_sales_by_event_session_and_platform_reconcile(known):
    scope = _scope(known["organiser"])
    by_event = _cells(sales_report(scope, _filters(), "event"))
    assert by_event["TOTAL"] == (13, 2, 26500, 1100, 2000, 23400)
    assert by_event["Opera"] == (6, 0, 22500, 1100, 1000, 20400)
    assert by_event["Ballet"] == (7, 2, 4000, 0, 1000, 3000)
    by_platform = _cells(sales_report(scope, _filters(), "platform"))
    assert by_platform == {
        "This site": (10, 2, 19500, 1100, 2000, 16400),
        "Billetweb": (2, 0, 7000, 0, 0, 7000),
        "Humanitix": UNREPORTED,
        "TOTAL": (13, 2, 26500, 1100, 2000, 23400),
    }
    first = known["first"]
    by_session = sales_report(scope, _filters(session_id=first.pk), "session")
    assert _cells(by_session) == {
        str(first): (6, 0, 22500, 1100, 1000, 20400),
        "TOTAL": (6, 0, 22500, 1100, 1000, 20400),
    }


def test_sales_by_discount_code(known):
    table = sales_report(_scope(known["organiser"]), _filters(), "code")
    assert _cells(table) == {
        "TEN": (3, 0, 11000, 1100, 1000, 8900),
        "(no code)": (7, 2, 8500, 0, 1000, 7500),
        "Billetweb": (2, 0, 7000, 0, 0, 7000),
        "Humanitix": UNREPORTED,
        "TOTAL": (13, 2, 26500, 1100, 2000, 23400),
    }


def test_filters_by_channel_and_event(known):
    scope = _scope(known["organiser"])
    web = sales_report(scope, _filters(channel="web"), "event")
    assert _cells(web) == {
        "Opera": (3, 0, 11000, 1100, 1000, 8900),
        "Ballet": (1, 0, 1000, 0, 1000, 0),
        "TOTAL": (4, 0, 12000, 1100, 2000, 8900),
    }
    ballet = sales_report(scope, _filters(event_id=known["second"].event_id), "channel")
    assert _cells(ballet)["TOTAL"] == (7, 2, 4000, 0, 1000, 3000)


def test_payouts_per_provider(known):
    table = payouts_report(_scope(known["organiser"]), _filters())
    rows = {row["provider"]: row for row in table.rows}
    assert (rows["Stripe"]["collected"], rows["Stripe"]["refunded"]) == (10900, 2000)
    assert rows["Stripe"]["payout"] == 8900
    assert rows["Back office (paid offline)"]["collected"] == 3000
    assert rows["Billetweb"]["payout"] == 7000
    humanitix = rows["Humanitix (1 order with no amount reported)"]
    assert (humanitix["payments"], humanitix["payout"]) == (1, None)
    assert table.totals[0]["payout"] == 8900 + 3000 + 7000
    assert table.totals[0]["provider"] == "Total (without the amounts not reported)"


def test_payouts_take_off_the_platform_fee_kept_on_connect_charges():
    """Stripe Connect: the organiser is paid what was collected, less refunds, less
    the platform's fee; a refund that returns the fee returns its share of it."""
    organiser = OrganiserFactory()
    session = SessionFactory(event=EventFactory(organiser=organiser))
    ticket_type = TicketTypeFactory(event=session.event, price_minor=10000)

    def connect_payment(fee):
        return PaymentFactory(
            organiser=organiser,
            booking=booked(session, [(ticket_type, 1)]),
            status="succeeded",
            succeeded_at=timezone.now(),
            destination_account="acct_organiser",
            application_fee_minor=fee,
        )

    kept = connect_payment(500)  # no refund: the platform keeps 5.00
    halved = connect_payment(500)  # half refunded, fee returned: keeps 2.50
    halved.refunded_minor = 5000
    halved.save(update_fields=["refunded_minor"])
    RefundFactory(
        organiser=organiser,
        payment=halved,
        amount_minor=5000,
        status="succeeded",
        refunds_application_fee=True,
    )
    whole = connect_payment(300)  # refunded in full, fee kept by policy: keeps 3.00
    whole.refunded_minor = 10000
    whole.save(update_fields=["refunded_minor"])
    RefundFactory(
        organiser=organiser, payment=whole, amount_minor=10000, status="succeeded"
    )
    assert kept.pk

    table = payouts_report(_scope(organiser), _filters())
    [stripe] = table.rows
    assert (stripe["collected"], stripe["refunded"]) == (30000, 15000)
    assert stripe["platform_fee"] == 500 + 250 + 300
    assert stripe["payout"] == 30000 - 15000 - 1050
    assert table.totals[0]["platform_fee"] == 1050


def test_sync_history_counts_what_each_day_added(known):
    organiser = known["organiser"]
    connection = known["first"].platform_listings.get().connection
    SyncRunFactory(connection=connection, status=SyncRun.Status.SUCCESS)
    SyncRunFactory(connection=connection, status=SyncRun.Status.FAILED)
    table = sync_history_report(_scope(organiser), _filters())
    rows = {row["platform"]: row for row in table.rows}
    assert (
        rows["Billetweb"]["runs"],
        rows["Billetweb"]["failed"],
        rows["Billetweb"]["orders"],
        rows["Billetweb"]["tickets"],
    ) == (2, 1, 1, 2)
    assert rows["Humanitix"]["orders"] == 1
    assert table.totals[0]["orders"] == 2


def test_the_report_page_shows_the_rows_and_totals_of_the_members_organiser_only(
    client, known
):
    member = MembershipFactory(
        organiser=known["organiser"], role=Membership.Role.VIEWER
    )
    client.force_login(member.user)
    other = SessionFactory(event__title="Not mine")
    sale(other, 5, 50000)
    page = client.get("/admin/reports/sales/", {"group": "event"}).content.decode()
    assert "Opera" in page
    assert "Not mine" not in page
    assert 'data-testid="totals"' in page
    assert "234.00" in page  # the net total
    by_channel = client.get("/admin/reports/sales/", {"group": "channel"})
    by_channel = by_channel.content.decode()
    humanitix = by_channel[by_channel.index('data-column="group">Humanitix<') :]
    humanitix = humanitix[: humanitix.index("</tr>")]
    assert '<td class="num" data-column="gross">—</td>' in humanitix
    assert "0.00" not in humanitix
    assert "the platform did not report them" in by_channel
    # A filter naming another organiser's event is refused, not obeyed.
    refused = client.get(
        "/admin/reports/sales/", {"event": other.event_id, "group": "event"}
    ).content.decode()
    assert "Not mine" not in refused


def test_reports_need_a_staff_member(client):
    assert client.get("/admin/reports/sales/").status_code == 302  # to the login


def test_a_superusers_organiser_survives_the_filter_form(client, known):
    client.force_login(UserFactory(is_superuser=True))
    organiser = known["organiser"]
    page = client.get(
        "/admin/reports/sales/", {"organiser": organiser.pk}
    ).content.decode()
    form = page[page.index('<form method="get" class="bo-report-filters"') :]
    form = form[: form.index("</form>")]
    assert f'<input type="hidden" name="organiser" value="{organiser.pk}">' in form
    assert f'href="/admin/reports/payouts/?organiser={organiser.pk}"' in page


def test_an_invalid_filter_is_shown_and_the_valid_ones_kept(client, known):
    member = MembershipFactory(
        organiser=known["organiser"], role=Membership.Role.VIEWER
    )
    client.force_login(member.user)
    other = SessionFactory(event__title="Not mine")
    page = client.get(
        "/admin/reports/sales/",
        {"event": other.event_id, "channel": "web", "group": "event"},
    ).content.decode()
    assert 'data-testid="filter-errors"' in page
    assert "Select a valid choice" in page
    # The channel filter still holds: web sales only (4 tickets, not 13).
    totals = page[page.index('data-testid="totals"') :]
    assert '<td class="num" data-column="tickets">4</td>' in totals
    assert "Not mine" not in page


@pytest.mark.parametrize(
    "url", ["/admin/reports/sales/", "/admin/reports/export/bookings/"]
)
def test_an_export_with_an_invalid_filter_is_refused_not_widened(client, known, url):
    member = MembershipFactory(
        organiser=known["organiser"], role=Membership.Role.VIEWER
    )
    client.force_login(member.user)
    response = client.get(url, {"format": "csv", "channel": "web", "start": "soon"})
    assert response.status_code == 400
    assert "nothing was exported" in response.content.decode()
    assert "From: Enter a valid date." in response.content.decode()
