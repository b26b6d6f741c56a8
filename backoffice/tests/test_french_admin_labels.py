"""The admin's own words in French: app titles, model names and field labels.

Django makes a label from the attribute or class name when none is given, and such a
label is never translated: a French organiser saw "Bookings", "Recipient name" and
"Par status". Every label of our models is now marked; the first test keeps it so
for fields and models added later (ticketing/tests/test_translations.py then makes
sure each marked string has its French).
"""

import pytest
from django.apps import apps
from django.utils.functional import Promise

from events.models import Membership
from events.tests.factories import MembershipFactory, SessionFactory, TicketTypeFactory

from .world import booked

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
# Apps that are ours, not Django's or a library's.
OUR_APPS = {
    "admission",
    "backoffice",
    "bookings",
    "events",
    "integrations",
    "invoicing",
    "notifications",
    "partner_api",
    "payments",
    "stripe_catalog",
    "ticketing",
    "xero",
}


def _unmarked_labels() -> list[str]:
    unmarked = []
    for config in apps.get_app_configs():
        if config.label not in OUR_APPS:
            continue
        if config.models_module is not None and not isinstance(
            config.verbose_name, Promise
        ):
            unmarked.append(f"app {config.label}")
        for model in config.get_models():
            name = f"{config.label}.{model.__name__}"
            for option in ("verbose_name", "verbose_name_plural"):
                if not isinstance(getattr(model._meta, option), Promise):
                    unmarked.append(f"{name} Meta.{option}")
            for field in model._meta.get_fields():
                if field.auto_created or not field.concrete:
                    continue
                if not isinstance(field.verbose_name, Promise):
                    unmarked.append(f"{name}.{field.name}")
    return unmarked


def test_every_app_model_and_field_label_of_ours_is_marked_for_translation():
    assert _unmarked_labels() == []


@pytest.mark.django_db
def test_a_french_organiser_reads_the_admin_in_french(client):
    session = SessionFactory(event__title="Concert", capacity=20)
    stalls = TicketTypeFactory(event=session.event, name="Stalls", price_minor=2500)
    booked(session, [(stalls, 1)])
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.MANAGER
    )
    client.force_login(member.user)

    index = client.get("/admin/", **FRENCH).content.decode()
    for title in ("Réservations", "Événements", "Paiements", "Séances"):
        assert f">{title}<" in index, title
    assert ">Bookings<" not in index
    assert "Back-office de la billetterie" in index

    bookings = client.get("/admin/bookings/booking/", **FRENCH)
    assert bookings.status_code == 200
    page = " ".join(bookings.content.decode().split())
    assert "Par statut" in page
    assert "Par status" not in page
    for heading in ("Référence", "Séance", "Quantité", "Nom de l’acheteur", "Créé le"):
        assert f">{heading}</a>" in page, heading
