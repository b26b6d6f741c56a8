"""`python manage.py seed_demo`: a usable demo, and idempotent."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from events.models import Event, Membership, Organiser, Session, TicketType, Venue

pytestmark = pytest.mark.django_db

MODELS = [get_user_model(), Organiser, Membership, Venue, Event, Session, TicketType]
LOGINS = {
    "admin": "admin",
    "paris-manager": "paris-demo-2026",
    "lagos-manager": "lagos-demo-2026",
}


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_seed_demo_twice_creates_nothing_new():
    _seed()
    first = _counts()
    _seed()

    assert _counts() == first
    assert first["Organiser"] == 2
    assert first["Session"] == 4
    assert first["User"] == 3


def test_seed_demo_organisers_currencies_and_events():
    _seed()

    paris = Organiser.objects.get(slug="paris-masterclass")
    lagos = Organiser.objects.get(slug="lagos-live")
    assert (paris.currency, paris.timezone) == ("EUR", "Europe/Paris")
    assert (lagos.currency, lagos.timezone) == ("NGN", "Africa/Lagos")
    assert paris.reference_prefix != lagos.reference_prefix

    masterclass = Event.objects.get(organiser=paris, title="Masterclass")
    assert masterclass.is_published
    assert masterclass.currency == "EUR"
    cities = {session.city for session in masterclass.sessions.all()}
    assert cities == {"Paris", "Lyon", "Bordeaux"}
    concert = Event.objects.get(organiser=lagos)
    assert concert.is_published
    assert concert.currency == "NGN"


def test_seed_demo_ticket_types_cover_every_price_rule():
    _seed()

    masterclass = Event.objects.get(slug="masterclass")
    types = list(masterclass.ticket_types.filter(is_active=True))
    first_session = masterclass.sessions.order_by("starts_at").first()
    early = [tt for tt in types if tt.early_bird_price_minor is not None]
    assert early
    assert all(
        timezone.now() < tt.early_bird_deadline_at < first_session.starts_at
        for tt in early
    )
    assert any(tt.group_min_quantity and tt.group_discount_percent for tt in types)
    assert any(tt.price_minor > 0 and tt.early_bird_price_minor is None for tt in types)
    assert any(tt.price_minor == 0 for tt in types)


def test_seed_demo_rows_pass_model_validation_and_sessions_are_upcoming():
    _seed()

    now = timezone.now()
    for model in (Organiser, Venue, Event, Session, TicketType):
        for row in model.objects.all():
            row.full_clean()
    assert all(session.starts_at > now for session in Session.objects.all())


def test_seed_demo_staff_are_managers_of_their_organiser():
    _seed()

    for username, slug in (
        ("paris-manager", "paris-masterclass"),
        ("lagos-manager", "lagos-live"),
    ):
        user = get_user_model().objects.get(username=username)
        assert user.is_staff
        assert not user.is_superuser
        membership = Membership.objects.get(user=user)
        assert membership.organiser.slug == slug
        assert membership.role == Membership.Role.MANAGER
    assert get_user_model().objects.get(username="admin").is_superuser


@pytest.mark.parametrize("username", sorted(LOGINS))
def test_seed_demo_logins_open_the_admin(client, username):
    _seed()

    assert client.login(username=username, password=LOGINS[username])
    response = client.get("/admin/")
    assert response.status_code == 200


def test_seed_demo_prints_the_admin_url_and_every_login():
    output = _seed()

    assert "http://127.0.0.1:8000/admin/" in output
    for username, password in LOGINS.items():
        assert username in output
        assert password in output


def test_seed_demo_keeps_seats_already_sold():
    _seed()
    session = Session.objects.filter(event__slug="masterclass").first()
    Session.objects.filter(pk=session.pk).update(sold_count=7)

    _seed()

    session.refresh_from_db()
    assert session.sold_count == 7
