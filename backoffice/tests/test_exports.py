"""Exports: CSV and XLSX of reports and lists, door lists; formula injection and
tenancy."""

import csv
import io

import pytest
from openpyxl import load_workbook

from backoffice.exports import safe_text
from bookings.services import BuyerInput, booking_confirm
from bookings.tests.helpers import hold
from events.models import Membership
from events.tests.factories import MembershipFactory, SessionFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/","click")'


def _sold(session, buyer_name, names, confirm=True):
    ticket_type = TicketTypeFactory(
        event=session.event, name="Stalls", price_minor=2500
    )
    booking = hold(
        session,
        (ticket_type, len(names)),
        buyer=BuyerInput(
            name=buyer_name, email="buyer@example.org", phone="+33612345678"
        ),
    )
    if names:
        from bookings.models import Attendee

        for attendee, name in zip(
            Attendee.objects.filter(booking=booking).order_by("pk"), names, strict=True
        ):
            attendee.name = name
            attendee.save(update_fields=["name"])
    if confirm:
        booking_confirm(booking_id=booking.pk)
    return booking


@pytest.fixture
def two_organisers(client):
    mine = SessionFactory(event__title="Mine")
    theirs = SessionFactory(event__title="Theirs")
    my_booking = _sold(mine, EVIL, ["+SUM(A1:A9)", "Ada Lovelace", "@cmd"])
    their_booking = _sold(theirs, "Bravo Buyer", ["Bravo Guest"])
    member = MembershipFactory(
        organiser=mine.event.organiser, role=Membership.Role.VIEWER
    )
    client.force_login(member.user)
    return {
        "mine": mine,
        "theirs": theirs,
        "my_booking": my_booking,
        "their_booking": their_booking,
    }


def _csv(response):
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx(response):
    workbook = load_workbook(io.BytesIO(response.content))
    return [
        [cell.value for cell in row] for row in workbook.worksheets[0].iter_rows()
    ], workbook.worksheets[0]


def test_safe_text_escapes_what_a_spreadsheet_would_run():
    assert [safe_text(v) for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "Ada"]] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\t=1",
        "Ada",
    ]


def test_bookings_csv_is_escaped_and_holds_only_the_organisers_rows(
    client, two_organisers
):
    rows = _csv(client.get("/admin/reports/export/bookings/", {"format": "csv"}))
    assert rows[0][:3] == ["Reference", "Status", "Channel"]
    references = [row[0] for row in rows[1:]]
    assert references == [two_organisers["my_booking"].reference]
    assert rows[1][6] == "'" + EVIL
    assert rows[1][8] == "'+33612345678"  # CSV has no types: escaped all the same
    assert rows[1][9] == "3"  # tickets
    assert rows[1][12] == "75.00"  # total, in major units
    assert two_organisers["their_booking"].reference not in str(rows)


def test_attendees_xlsx_is_escaped_and_holds_only_the_organisers_rows(
    client, two_organisers
):
    response = client.get("/admin/reports/export/attendees/", {"format": "xlsx"})
    rows, sheet = _xlsx(response)
    names = sorted(row[0] for row in rows[1:])
    # XLSX cells are typed: text starting with + or @ is text, kept as it is.
    assert names == ["+SUM(A1:A9)", "@cmd", "Ada Lovelace"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert "Bravo Guest" not in str(rows)
    assert all(row[3] for row in rows[1:])  # every confirmed attendee has a code


def test_bookings_xlsx_keeps_text_as_it_is_and_never_writes_a_formula(
    client, two_organisers
):
    response = client.get("/admin/reports/export/bookings/", {"format": "xlsx"})
    rows, sheet = _xlsx(response)
    assert rows[0][6] == "Buyer"
    assert rows[0][-1] == "Currency"
    assert (rows[1][6], rows[1][8]) == (EVIL, "+33612345678")
    buyer = sheet.cell(row=2, column=7)
    # Text, and marked so that Excel keeps it text even when the cell is edited.
    assert (buyer.data_type, buyer.quotePrefix) == ("s", True)
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_currency_heading_is_translated(client, two_organisers):
    rows, _sheet = _xlsx(
        client.get(
            "/admin/reports/export/bookings/",
            {"format": "xlsx"},
            HTTP_ACCEPT_LANGUAGE="fr",
        )
    )
    assert rows[0][-1] == "Devise"


def test_a_report_exports_as_csv_and_xlsx_with_its_totals(client, two_organisers):
    csv_rows = _csv(
        client.get("/admin/reports/sales/", {"group": "event", "format": "csv"})
    )
    assert csv_rows[0][:5] == [
        "Event",
        "Tickets",
        "of which comps",
        "of which no amount reported",
        "At list price",
    ]
    assert csv_rows[0][7:10] == ["Gross (tax included)", "Tax", "Net (before tax)"]
    assert csv_rows[1][:5] == ["Mine", "3", "0", "0", "75.00"]
    assert csv_rows[-1][:5] == ["Total", "3", "0", "0", "75.00"]
    assert "Theirs" not in str(csv_rows)
    rows, _sheet = _xlsx(
        client.get("/admin/reports/sales/", {"group": "event", "format": "xlsx"})
    )
    assert rows[1][:5] == ["Mine", 3, 0, 0, 75]
    assert rows[-1][0] == "Total"


def test_door_list_csv_and_pdf(client, two_organisers):
    mine = two_organisers["mine"]
    rows = _csv(client.get(f"/admin/reports/door-list/{mine.pk}/", {"format": "csv"}))
    assert rows[0] == ["Name", "Ticket code", "Ticket type", "Booking", "Checked in"]
    assert [row[0] for row in rows[1:]] == ["'+SUM(A1:A9)", "'@cmd", "Ada Lovelace"]
    assert all(len(row[1]) >= 6 for row in rows[1:])
    assert {row[2] for row in rows[1:]} == {"Stalls"}
    pdf = client.get(f"/admin/reports/door-list/{mine.pk}/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_another_organisers_door_list_does_not_exist(client, two_organisers):
    theirs = two_organisers["theirs"]
    for fmt in ("csv", "pdf"):
        response = client.get(f"/admin/reports/door-list/{theirs.pk}/", {"format": fmt})
        assert response.status_code == 404


def test_unconfirmed_bookings_are_not_on_the_door_list(client, two_organisers):
    mine = two_organisers["mine"]
    _sold(mine, "Late Payer", ["Holding Only"], confirm=False)
    rows = _csv(client.get(f"/admin/reports/door-list/{mine.pk}/", {"format": "csv"}))
    assert "Holding Only" not in str(rows)


def test_an_organiser_filter_cannot_reach_another_organiser(client, two_organisers):
    theirs = two_organisers["theirs"]
    response = client.get(
        "/admin/reports/export/bookings/",
        {"format": "csv", "organiser": theirs.event.organiser_id},
    )
    assert two_organisers["their_booking"].reference not in response.content.decode()


def test_the_session_list_links_each_date_to_its_door_list(client, two_organisers):
    mine = two_organisers["mine"]
    page = client.get("/admin/events/session/").content.decode()
    pdf = f'href="/admin/reports/door-list/{mine.pk}/"'
    assert pdf in page
    assert f'href="/admin/reports/door-list/{mine.pk}/?format=csv"' in page
    assert f"/door-list/{two_organisers['theirs'].pk}/" not in page
    rows = _csv(client.get(f"/admin/reports/door-list/{mine.pk}/", {"format": "csv"}))
    assert "Ada Lovelace" in str(rows)


def test_a_booking_made_before_the_period_and_confirmed_in_it_is_in_its_list(
    client, two_organisers
):
    """The sales report counts a sale on the day it was confirmed; the bookings and
    attendees lists of that period hold it too, so their rows add up to the report."""
    import datetime as dt

    from django.utils import timezone

    from bookings.models import Booking

    late = two_organisers["my_booking"]
    old = timezone.now() - dt.timedelta(days=40)
    Booking.objects.filter(pk=late.pk).update(created_at=old)
    never_confirmed = _sold(two_organisers["mine"], "Old Hold", ["Old"], confirm=False)
    Booking.objects.filter(pk=never_confirmed.pk).update(created_at=old)
    # The days around today: the period is read on the organiser's clock, which
    # may already be tomorrow (or still yesterday) on the server's.
    today = timezone.localdate()
    period = {
        "start": (today - dt.timedelta(days=1)).isoformat(),
        "end": (today + dt.timedelta(days=1)).isoformat(),
        "format": "csv",
    }

    bookings = _csv(client.get("/admin/reports/export/bookings/", period))
    references = [row[0] for row in bookings[1:]]
    assert late.reference in references
    assert never_confirmed.reference not in references

    attendees = _csv(client.get("/admin/reports/export/attendees/", period))
    assert "Ada Lovelace" in {row[0] for row in attendees[1:]}

    sales = _csv(client.get("/admin/reports/sales/", period))
    assert sales[1][:2] == ["Mine", "3"]
