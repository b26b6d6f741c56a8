"""French for buyers: pages follow Accept-Language and the language switcher, and
locale/fr has a translation for every string (no empty or fuzzy entry, .mo in sync)."""

import ast
import datetime as dt
import functools
import gettext
import re
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from bookings.access import booking_page_path
from bookings.models import Booking
from bookings.selectors import availability_invalidate
from bookings.tests.factories import BookingLineFactory
from events.models import Session
from events.tests.factories import (
    EventFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
FRENCH_MONTHS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre "
    "décembre"
).split()
FRENCH_DAYS = "lundi mardi mercredi jeudi vendredi samedi dimanche".split()
LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"


def _starts_in(days: int, hour: int = 20) -> dt.datetime:
    day = timezone.localdate(timezone=PARIS) + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=PARIS)


def _session(event, city: str, days: int, capacity: int, **kwargs) -> Session:
    starts_at = _starts_in(days)
    return SessionFactory(
        event=event,
        venue=VenueFactory(organiser=event.organiser, city=city, name=f"Hall {city}"),
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
        capacity=capacity,
        **kwargs,
    )


@pytest.fixture
def show(db):
    """An event in Paris with a session of 12 seats, one of 1 seat, one sold out."""
    event = EventFactory(
        title="Masterclass", slug="masterclass", timezone="Europe/Paris"
    )
    ticket_type = TicketTypeFactory(event=event, name="Standard", price_minor=4500)
    paris = _session(event, "Paris", days=30, capacity=12)
    lyon = _session(event, "Lyon", days=31, capacity=1)
    lille = _session(event, "Lille", days=32, capacity=5)
    Session.objects.filter(pk=lille.pk).update(sold_count=5)
    return {
        "event": event,
        "ticket_type": ticket_type,
        "paris": paris,
        "lyon": lyon,
        "lille": lille,
    }


def _page(client, url: str, **headers) -> str:
    # Availability is cached in the shared Redis by session id; start from the database.
    availability_invalidate(Session.objects.values_list("pk", flat=True))
    response = client.get(url, **headers)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def _french_date(when: dt.datetime) -> tuple[str, str]:
    local = when.astimezone(PARIS)
    return FRENCH_DAYS[local.weekday()], FRENCH_MONTHS[local.month - 1]


# Pages


def test_event_list_is_french_for_a_french_browser(client, show):
    page = _page(client, "/", **FRENCH)

    assert '<html lang="fr">' in page
    assert "Événements à venir" in page
    assert "Dates et billets" in page
    assert "À partir de 45,00 EUR" in page  # French digits: decimal comma
    assert "Changer de langue" in page
    _, month = _french_date(show["paris"].starts_at)
    assert f" {month} " in page
    assert "Upcoming events" not in page


def test_event_list_stays_english_for_an_english_browser(client, show):
    page = _page(client, "/", **ENGLISH)

    assert '<html lang="en">' in page
    assert "Upcoming events" in page
    assert "Événements à venir" not in page


def test_event_page_is_french_book_left_and_sold_out(client, show):
    page = _page(client, "/e/masterclass/", **FRENCH)

    assert '<html lang="fr">' in page
    assert ">Réserver<span" in page
    assert "Il reste 12 places</span>" in page
    assert "Il reste 1 place</span>" in page  # French plural: 0 and 1 are singular
    assert "Complet</p>" in page
    assert "Dates et billets" in page
    assert "Horaires en heure locale (Europe/Paris). Prix TTC." in page
    day, month = _french_date(show["paris"].starts_at)
    local = show["paris"].starts_at.astimezone(PARIS)
    assert f"{day} {local.day} {month} {local.year}" in page
    for english in (">Book<", " left<", "Sold out", "Dates and tickets"):
        assert english not in page


def test_event_page_in_english_for_comparison(client, show):
    page = _page(client, "/e/masterclass/", **ENGLISH)

    assert ">Book<span" in page
    assert "12 left</span>" in page
    assert "Sold out" in page


def test_language_switcher_keeps_french_for_later_requests(client, show):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    # No Accept-Language from now on: the cookie decides.
    assert '<html lang="fr">' in _page(client, "/")
    assert ">Réserver<span" in _page(client, "/e/masterclass/")

    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Upcoming events" in _page(client, "/")


def test_language_switcher_beats_the_browser_language(client, show):
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert "Événements à venir" in _page(client, "/", **ENGLISH)


def test_checkout_page_labels_are_french(client, show):
    paris = show["paris"]
    page = _page(client, f"/e/masterclass/checkout/?session={paris.pk}", **FRENCH)

    assert '<html lang="fr">' in page
    assert "Réservez vos billets" in page
    assert "<legend>Date</legend>" in page
    assert "<legend>Billets</legend>" in page
    assert "<legend>Vos coordonnées</legend>" in page
    assert "Votre nom</label>" in page
    assert "Adresse e-mail</label>" in page
    assert "Téléphone mobile</label>" in page
    assert "pour recevoir vos billets par SMS." in page
    assert "Mettre à jour les billets et le prix" in page
    assert "Réserver et passer au paiement" in page
    assert "Vos places sont bloquées pendant 15 minutes" in page
    _, month = _french_date(paris.starts_at)
    assert re.search(rf'<option value="{paris.pk}" selected>Paris · [^<]*{month}', page)
    for english in ("Your name", "Mobile phone", "Book and go to payment"):
        assert english not in page


def test_checkout_update_and_errors_are_french(client, show):
    paris, ticket_type = show["paris"], show["ticket_type"]
    url = "/e/masterclass/checkout/"
    base = {
        "session": paris.pk,
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "token": "tok-fr",
    }

    update = client.post(
        url, {**base, f"qty_{ticket_type.pk}": 2, "action": "update"}, **FRENCH
    ).content.decode()
    assert "Nom sur le billet 1</label>" in update
    assert "E-mail pour le billet 2 (facultatif)</label>" in update
    assert "<legend>Participants</legend>" in update

    nothing = client.post(
        url, {**base, f"qty_{ticket_type.pk}": 0, "action": "book"}, **FRENCH
    )
    assert nothing.status_code == 400
    assert "Choisissez au moins un billet." in nothing.content.decode()
    assert Booking.objects.count() == 0


def test_booking_page_is_french(client, db):
    line = BookingLineFactory(booking__status=Booking.Status.CONFIRMED)
    booking = line.booking

    page = _page(client, booking_page_path(booking.reference), **FRENCH)

    assert f"Réservation {booking.reference}" in page
    assert "Votre réservation est confirmée" in page
    assert "Une confirmation vous a été envoyée à ada@example.org." in page
    assert "Votre commande" in page


def test_booking_lookup_page_is_french(client, db):
    page = _page(client, "/b/lookup/", **FRENCH)

    assert "Retrouver ma réservation" in page
    assert "Référence de réservation</label>" in page
    assert "M’envoyer le lien" in page


# The catalogue


def _po_entries(path: Path) -> list[dict]:
    """Entries of a .po file: flags, msgid, msgid_plural and msgstr(s), unescaped."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or all(line.startswith("#~") for line in lines):
            continue  # blank or obsolete
        entry = {"flags": set()}
        field = None
        for line in lines:
            if line.startswith("#,"):
                entry["flags"].update(f.strip() for f in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[field] = entry[field] + ast.literal_eval(line)
            else:
                keyword, value = line.split(" ", 1)
                field = keyword
                entry[field] = ast.literal_eval(value)
        strings = {k: v for k, v in entry.items() if k.startswith("msgstr")}
        entries.append({**entry, "msgstr": strings})
    return entries


def _messages():
    entries = _po_entries(LOCALE_DIR / "django.po")
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    return header, messages


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")


def test_po_file_has_no_empty_or_fuzzy_translation():
    header, messages = _messages()

    assert len(messages) > 150
    assert "fuzzy" not in header["flags"], "a fuzzy header is left out of the .mo"
    assert "Plural-Forms: nplurals=2; plural=(n > 1);" in header["msgstr"]["msgstr"]
    fuzzy = [m["msgid"] for m in messages if "fuzzy" in m["flags"]]
    empty = [m["msgid"] for m in messages if not all(m["msgstr"].values())]
    assert fuzzy == [], f"fuzzy entries: {fuzzy}"
    assert empty == [], f"untranslated entries: {empty}"
    plurals = [m for m in messages if "msgid_plural" in m]
    assert plurals
    for m in plurals:
        assert set(m["msgstr"]) == {"msgstr[0]", "msgstr[1]"}, m["msgid"]


def test_translations_keep_every_placeholder():
    _, messages = _messages()

    for m in messages:
        expected = sorted(PLACEHOLDER.findall(m["msgid"]))
        for key, translation in m["msgstr"].items():
            assert sorted(PLACEHOLDER.findall(translation)) == expected, (
                m["msgid"],
                key,
            )


def test_compiled_mo_matches_the_po_file():
    """The committed .mo serves French where gettext is not installed: it must hold
    every translation of the .po, so run compilemessages after editing it."""
    _, messages = _messages()
    with (LOCALE_DIR / "django.mo").open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)

    stale = []
    for m in messages:
        # A msgctxt (pgettext) keeps one English word apart from its homonym.
        context = m.get("msgctxt")
        if "msgid_plural" in m:
            plural = (
                functools.partial(catalogue.npgettext, context)
                if context is not None
                else catalogue.ngettext
            )
            one = plural(m["msgid"], m["msgid_plural"], 1)
            many = plural(m["msgid"], m["msgid_plural"], 2)
            if [one, many] != [m["msgstr"]["msgstr[0]"], m["msgstr"]["msgstr[1]"]]:
                stale.append(m["msgid"])
        else:
            found = (
                catalogue.pgettext(context, m["msgid"])
                if context is not None
                else catalogue.gettext(m["msgid"])
            )
            if found != m["msgstr"]["msgstr"]:
                stale.append(m["msgid"])
    assert stale == [], f"not in django.mo, run compilemessages: {stale}"
