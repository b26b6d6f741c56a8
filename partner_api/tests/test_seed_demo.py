"""`python manage.py seed_demo`: a demo worth looking at, idempotent, and without
default credentials when DEBUG is off."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from admission.models import CheckIn
from bookings.models import Attendee, Booking, Ticket
from bookings.services.inventory import inventory_check
from events.models import Event, Membership, Organiser, Session, TicketType, Venue
from integrations.models import Connection, ExternalOrder, Listing, SyncRun
from partner_api.api_keys import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = [
    get_user_model(),
    Organiser,
    Membership,
    Venue,
    Event,
    Session,
    TicketType,
    ApiKey,
    Booking,
    Attendee,
    Ticket,
    CheckIn,
    Connection,
    Listing,
    ExternalOrder,
    SyncRun,
]
LOGINS = {
    "admin": "admin",
    "paris-manager": "paris-demo-2026",
    "lagos-manager": "lagos-demo-2026",
    "paris-door": "door-demo-2026",
}
DEMO_KEY = "tk_demo00000000_demo-partner-key-for-local-use-only"


@pytest.fixture(autouse=True)
def _demo(settings):
    settings.DEBUG = True
    settings.SITE_URL = "http://127.0.0.1:8000"


def _seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_seed_demo_twice_creates_nothing_new_and_keeps_seats_sold():
    _seed()
    first = _counts()
    bordeaux = Session.objects.get(event__slug="masterclass", venue__city="Bordeaux")
    sold = bordeaux.sold_count
    Session.objects.filter(pk=bordeaux.pk).update(sold_count=sold + 7)

    _seed()

    assert _counts() == first
    bordeaux.refresh_from_db()
    assert bordeaux.sold_count == sold + 7
    assert first["Organiser"] == 2
    assert first["Session"] == 6
    assert first["User"] == 4
    assert first["Booking"] >= 30
    assert first["ExternalOrder"] > 0
    assert first["SyncRun"] == 2


def test_seed_demo_builds_a_demo_worth_looking_at(client):
    """One seed (it renders every booking's tickets: slow), every promise checked."""
    output = _seed()

    _sells_on_every_channel_without_drift()
    _has_a_sold_out_and_a_past_session_with_check_ins()
    _organisers_currencies_and_events()
    _ticket_types_cover_every_price_rule()
    _rows_pass_model_validation_and_sessions_are_upcoming()
    _staff_have_their_roles()
    _prints_every_url_login_and_the_key(output)
    for username, password in LOGINS.items():
        assert client.login(username=username, password=password), username
        assert client.get("/admin/").status_code == 200
        client.logout()
    response = client.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Bearer {DEMO_KEY}")
    assert response.status_code == 200
    assert "masterclass" in {event["slug"] for event in response.json()["results"]}


def test_seed_demo_with_debug_off_refuses_without_confirmation(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        _seed()
    assert not get_user_model().objects.exists()


def test_seed_demo_with_debug_off_draws_random_passwords_and_key(settings, client):
    settings.DEBUG = False

    output = _seed("--no-input")

    assert not client.login(username="admin", password="admin")
    assert DEMO_KEY not in output
    password = re.search(r"admin\s+/\s+(\S+)", output).group(1)
    assert len(password) >= 20
    assert client.login(username="admin", password=password)
    key = re.search(r"(tk_[0-9a-f]+_\S+)", output).group(1)
    assert ApiKey.find(key) is not None
    assert "shown once" in output


def _sells_on_every_channel_without_drift():
    channels = set(Booking.objects.values_list("channel", flat=True))
    assert {Booking.Channel.WEB, Booking.Channel.API} <= channels
    assert Booking.objects.filter(status=Booking.Status.CONFIRMED).count() >= 30
    assert Booking.objects.filter(status=Booking.Status.PENDING).exists()
    platforms = set(Connection.objects.values_list("platform", flat=True))
    assert platforms == {"billetweb", "humanitix"}
    assert SyncRun.objects.filter(status=SyncRun.Status.SUCCESS).count() == 2
    paris = Session.objects.get(event__slug="masterclass", venue__city="Paris")
    assert paris.external_sold_count == 14
    # The recorded orders add up to the listing's figure (reports read the orders).
    orders = ExternalOrder.objects.filter(listing__session=paris)
    assert sum(order.quantity for order in orders) == 14
    # Counters were moved by the real sale, so the inventory check finds nothing.
    assert inventory_check() == []


def _has_a_sold_out_and_a_past_session_with_check_ins():
    sold_out = Session.objects.get(venue__city="Marseille")
    assert sold_out.sold_count == sold_out.capacity
    past = Session.objects.get(venue__city="Nantes")
    assert past.ends_at < timezone.now()
    assert past.sold_count > 0
    assert CheckIn.objects.filter(ticket__session=past).count() == 6


def _organisers_currencies_and_events():
    paris = Organiser.objects.get(slug="paris-masterclass")
    lagos = Organiser.objects.get(slug="lagos-live")
    assert (paris.currency, paris.timezone) == ("EUR", "Europe/Paris")
    assert (lagos.currency, lagos.timezone) == ("NGN", "Africa/Lagos")
    assert paris.reference_prefix != lagos.reference_prefix
    masterclass = Event.objects.get(organiser=paris, title="Masterclass")
    assert masterclass.is_published
    assert masterclass.currency == "EUR"
    cities = {session.city for session in masterclass.sessions.all()}
    assert cities == {"Paris", "Lyon", "Bordeaux", "Marseille"}
    concert = Event.objects.get(organiser=lagos)
    assert concert.is_published
    assert concert.currency == "NGN"


def _ticket_types_cover_every_price_rule():
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


def _rows_pass_model_validation_and_sessions_are_upcoming():
    now = timezone.now()
    for model in (Organiser, Venue, Event, Session, TicketType):
        for row in model.objects.all():
            row.full_clean()
    upcoming = Session.objects.exclude(venue__city="Nantes")
    assert all(session.starts_at > now for session in upcoming)


def _staff_have_their_roles():
    for username, slug, role in (
        ("paris-manager", "paris-masterclass", Membership.Role.MANAGER),
        ("lagos-manager", "lagos-live", Membership.Role.MANAGER),
        ("paris-door", "paris-masterclass", Membership.Role.STAFF),
    ):
        user = get_user_model().objects.get(username=username)
        assert user.is_staff
        assert not user.is_superuser
        membership = Membership.objects.get(user=user)
        assert membership.organiser.slug == slug
        assert membership.role == role
    assert get_user_model().objects.get(username="admin").is_superuser


def _prints_every_url_login_and_the_key(output: str):
    for page in ("/", "/admin/", "/checkin/", "/api/docs/"):
        assert f"http://127.0.0.1:8000{page}" in output
    for username, password in LOGINS.items():
        assert username in output
        assert password in output
    assert DEMO_KEY in output
