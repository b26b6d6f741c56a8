"""Times that people read are on the session's clock (its venue's zone), labelled with
the zone's abbreviation, in the buyer's language: emails, SMS, the tickets PDF, pages.

The session starts at 13:00 UTC, 14:00 in Paris in January (CET). Before the local
time helper, the confirmation email printed 13:00: Django's `date` filter converts an
aware datetime to the *current* zone, and a Celery worker's is UTC.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone
from pypdf import PdfReader

from admission.services import booking_document_get_or_render
from bookings.services import booking_confirm
from events.tests.factories import (
    EventFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)
from notifications import sms
from notifications.models import Notification
from notifications.services.queueing import notification_queue
from ticketing.lib.localtime import local_datetime, zone_label

from .helpers import BUYER, hold

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _next_january_14() -> int:
    """A year whose 14 January is ahead (sales must still be open)."""
    return timezone.now().year + 1


@pytest.fixture(autouse=True)
def _outboxes(settings, monkeypatch, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemBackend"
    monkeypatch.setattr(sms, "outbox", [])


def _paris_session(
    *, event_zone="Europe/Paris", venue_zone="Europe/Paris", city="Paris"
):
    year = _next_january_14()
    organiser = OrganiserFactory(timezone=event_zone)
    event = EventFactory(organiser=organiser, timezone=event_zone)
    venue = VenueFactory(organiser=organiser, timezone=venue_zone, city=city)
    starts = dt.datetime(year, 1, 14, 14, 0, tzinfo=zoneinfo.ZoneInfo(venue_zone))
    session = SessionFactory(
        event=event,
        venue=venue,
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
    )
    ticket_type = TicketTypeFactory(event=event, price_minor=9000, max_per_order=10)
    return session, ticket_type, year


def _confirmed(session, ticket_type, capture, *, language: str):
    booking = hold(session, (ticket_type, 1), buyer=BUYER, language=language)
    with capture(execute=True):
        booking_confirm(booking_id=booking.pk)
    return booking


def _confirmation_email():
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    return message.body, html


def test_the_confirmation_email_shows_14_00_paris_time_in_english(
    django_capture_on_commit_callbacks,
):
    session, ticket_type, year = _paris_session()
    _confirmed(session, ticket_type, django_capture_on_commit_callbacks, language="en")

    text, html = _confirmation_email()
    assert f"14 January {year}, 14:00 CET" in text
    assert f"14 January {year}, 14:00 CET" in html
    assert "13:00" not in text + html


def test_the_confirmation_email_shows_14_00_paris_time_in_french(
    django_capture_on_commit_callbacks,
):
    session, ticket_type, year = _paris_session()
    _confirmed(session, ticket_type, django_capture_on_commit_callbacks, language="fr")

    text, html = _confirmation_email()
    assert f"14 janvier {year}, 14:00 CET" in text
    assert f"14 janvier {year}, 14:00 CET" in html
    assert "13:00" not in text + html


def test_the_venue_zone_wins_over_the_event_zone(django_capture_on_commit_callbacks):
    """A Paris organiser's event with a session in Lagos: the buyer in Lagos reads
    Lagos time (WAT), in the email and the PDF."""
    session, ticket_type, year = _paris_session(
        event_zone="Europe/Paris", venue_zone="Africa/Lagos", city="Lagos"
    )
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, language="en"
    )

    text, _html = _confirmation_email()
    assert f"14 January {year}, 14:00 WAT" in text
    (page,) = _pdf_pages(booking)
    assert "14:00–16:00 WAT" in page


def _pdf_pages(booking) -> list[str]:
    document = booking_document_get_or_render(booking.pk)
    with document.pdf.open("rb") as pdf:
        return [p.extract_text() for p in PdfReader(io.BytesIO(pdf.read())).pages]


@pytest.mark.parametrize(
    ("language", "date"), [("en", "14 January"), ("fr", "14 janvier")]
)
def test_the_tickets_pdf_shows_14_00_paris_time(
    language, date, django_capture_on_commit_callbacks
):
    session, ticket_type, year = _paris_session()
    booking = _confirmed(
        session, ticket_type, django_capture_on_commit_callbacks, language=language
    )

    (page,) = _pdf_pages(booking)
    assert f"{date} {year}" in page
    assert "14:00–16:00 CET" in page


def test_the_hold_reminder_sms_and_email_show_the_local_expiry(
    django_capture_on_commit_callbacks,
):
    """The seats are held until 10:15 UTC, 11:15 in Paris in January."""
    session, ticket_type, _year = _paris_session()
    booking = hold(session, (ticket_type, 1), buyer=BUYER)
    booking.expires_at = dt.datetime(2027, 1, 10, 10, 15, tzinfo=dt.UTC)
    booking.save(update_fields=["expires_at"])
    with django_capture_on_commit_callbacks(execute=True):
        notification_queue(
            booking=booking, template=Notification.Template.HOLD_EXPIRING
        )

    (text,) = sms.outbox
    assert "11:15 CET" in text.body
    (message,) = mail.outbox
    assert "11:15 CET" in message.subject
    assert "11:15 CET" in message.body


def test_the_event_page_shows_each_session_on_its_venue_clock(client):
    session, _ticket_type, year = _paris_session(
        event_zone="Europe/Paris", venue_zone="Africa/Lagos", city="Lagos"
    )
    page = client.get(f"/e/{session.event.slug}/").content.decode()
    assert "14:00</time>–<time" in page
    assert "16:00 WAT" in page


def test_local_datetime_follows_dst_and_the_language():
    from django.utils import translation

    winter = dt.datetime(2027, 1, 14, 13, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2027, 7, 14, 12, 0, tzinfo=dt.UTC)
    with translation.override("fr"):
        assert local_datetime(winter, PARIS) == "14 janvier 2027, 14:00 CET"
        assert local_datetime(summer, "Europe/Paris") == "14 juillet 2027, 14:00 CEST"
    with translation.override("en"):
        assert local_datetime(winter, PARIS, "time") == "14:00 CET"
    assert zone_label("Africa/Lagos", winter) == "Africa/Lagos (WAT)"
