"""The back office in French: report pages, their CSV exports, door lists and the
dashboard name their columns in the organiser's language, comps included."""

import csv
import io

import pytest

from events.models import Membership
from events.tests.factories import (
    MembershipFactory,
    SessionFactory,
    TicketTypeFactory,
)

from .world import booked

pytestmark = pytest.mark.django_db
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
SALES_HEADINGS = [
    "Événement",
    "Billets",
    "dont invitations",
    "dont montant non communiqué",
    "Au prix catalogue",
    "Remises",
    "Remboursements",
    "Brut (TTC)",
    "Taxe",
    "Net (HT)",
    "Frais des prestataires",
]


@pytest.fixture
def organiser_in_french(client):
    session = SessionFactory(event__title="Concert", capacity=20)
    stalls = TicketTypeFactory(event=session.event, name="Stalls", price_minor=2500)
    booked(session, [(stalls, 2)])
    booked(session, [(stalls, 1)], channel="admin", comp=True)
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.MANAGER
    )
    client.force_login(member.user)
    return session


def _page(response) -> str:
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_sales_report_page_and_its_csv_are_french(client, organiser_in_french):
    page = _page(client.get("/admin/reports/sales/", **FRENCH))
    assert "Ventes par événement" in page
    for heading in SALES_HEADINGS:
        assert f">{heading}</th>" in page, heading
    assert "Regrouper par" in page
    assert "Tous les canaux" in page

    rows = _csv(client.get("/admin/reports/sales/", {"format": "csv"}, **FRENCH))
    assert rows[0][: len(SALES_HEADINGS)] == SALES_HEADINGS
    assert rows[1][:3] == ["Concert", "3", "1"]

    by_channel = _page(
        client.get("/admin/reports/sales/", {"group": "channel"}, **FRENCH)
    )
    assert "Ventes par canal" in by_channel
    assert ">Invitations</td>" in by_channel


def test_payouts_and_sync_history_are_french(client, organiser_in_french):
    payouts = _page(client.get("/admin/reports/payouts/", **FRENCH))
    assert "Versements à venir, par prestataire" in payouts
    for heading in ("Prestataire", "Encaissé", "À verser", "Versé par"):
        assert f">{heading}</th>" in payouts, heading
    history = _page(client.get("/admin/reports/sync-history/", **FRENCH))
    assert "Historique des ventes sur les plateformes externes" in history
    assert ">Nouvelles commandes importées</th>" in history


def test_door_list_and_dashboard_are_french(client, organiser_in_french):
    rows = _csv(
        client.get(
            f"/admin/reports/door-list/{organiser_in_french.pk}/",
            {"format": "csv"},
            **FRENCH,
        )
    )
    assert rows[0] == [
        "Nom",
        "Code du billet",
        "Type de billet",
        "Réservation",
        "Contrôlé",
    ]

    dashboard = _page(client.get("/admin/", **FRENCH))
    for text in ("Billets vendus ici", "Prochaines dates", "Invitations", "Guichet"):
        assert text in dashboard, text
    assert "Ajouter une réservation ou des invitations" in dashboard
