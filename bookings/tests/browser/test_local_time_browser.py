"""An organiser enters a session at 14:00 Paris time in admin, from a browser on
another continent's clock; the event page, the confirmation email and the tickets
PDF all say 14:00 (CET), and the database holds 13:00 UTC."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from bookings.access import booking_page_path
from bookings.services import booking_confirm
from bookings.tests.helpers import hold
from events.models import Event, Membership, Session
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    TicketTypeFactory,
    UserFactory,
    VenueFactory,
)

from .conftest import TIMEOUT_MS, _block_outside

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def organiser_page(browser):
    """A browser in New York: what it thinks the time is must not matter."""
    context = browser.new_context(
        locale="en-GB",
        timezone_id="America/New_York",
        viewport={"width": 1200, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _block_outside)
    yield context.new_page()
    context.close()


def test_a_14_00_paris_session_entered_in_admin_reads_14_00_everywhere(
    organiser_page, live_server, shoot, settings, tmp_path
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MEDIA_ROOT = tmp_path
    page = organiser_page
    year = timezone.now().year + 1
    organiser = OrganiserFactory(timezone="Europe/Paris", currency="EUR")
    event = EventFactory(
        organiser=organiser,
        title="Paris Jazz",
        timezone="Europe/Paris",
        status=Event.Status.PUBLISHED,
    )
    venue = VenueFactory(
        organiser=organiser, name="New Morning", city="Paris", timezone="Europe/Paris"
    )
    ticket_type = TicketTypeFactory(event=event, price_minor=4500, max_per_order=10)
    user = UserFactory(username="organiser")
    MembershipFactory(user=user, organiser=organiser, role=Membership.Role.MANAGER)

    page.goto(f"{live_server.url}/admin/login/")
    page.locator("input[name=username]").fill("organiser")
    page.locator("input[name=password]").fill("correct horse battery staple")
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/events/session/add/")
    page.locator("select[name=event]").select_option(str(event.pk))
    page.locator("select[name=venue]").select_option(str(venue.pk))
    page.locator("input[name=starts_at_0]").fill(f"{year}-01-14")
    page.locator("input[name=starts_at_1]").fill("14:00")
    page.locator("input[name=ends_at_0]").fill(f"{year}-01-14")
    page.locator("input[name=ends_at_1]").fill("16:00")
    page.locator("input[name=capacity]").fill("50")
    shoot(page, "session-add")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    session = Session.objects.get(event=event)
    assert session.starts_at == dt.datetime(year, 1, 14, 13, 0, tzinfo=dt.UTC)
    # The change page gives the time back as typed, labelled with the zone.
    expect(page.locator("input[name=starts_at_1]")).to_have_value("14:00:00")
    expect(page.locator(".field-starts_at .local-zone")).to_have_text(
        "Local time: Europe/Paris (CET)"
    )
    shoot(page, "session-change")

    page.goto(f"{live_server.url}/e/{event.slug}/")
    expect(page.locator(f"#session-{session.pk} .session__when")).to_contain_text(
        "14:00"
    )
    expect(page.locator(f"#session-{session.pk} .session__when")).to_contain_text(
        "16:00 CET"
    )
    shoot(page, "event-page")

    booking = hold(session, (ticket_type, 1))
    booking_confirm(booking_id=booking.pk)  # the email goes out on commit (eager)

    (message,) = mail.outbox
    assert f"14 January {year}, 14:00 CET" in message.body
    ((name, content, _mimetype),) = message.attachments
    assert name.endswith(".pdf")
    (pdf_page,) = PdfReader(io.BytesIO(content)).pages
    assert "14:00–16:00 CET" in pdf_page.extract_text()

    page.goto(live_server.url + booking_page_path(booking.reference))
    expect(page.locator(".session-summary")).to_contain_text("14:00")
    shoot(page, "booking-page")
