import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from events.models import Event, Membership
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    VenueFactory,
)
from partner_api.api_keys import ApiKey
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db


def _key(organiser, scopes=("read",), **fields):
    key, plain = ApiKey.generate(
        organiser=organiser, name="partner", scopes=scopes, **fields
    )
    key.save()
    return plain


def _get(client, path, plain=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plain}"} if plain else {}
    return client.get(path, params, **headers)


@pytest.fixture
def catalogue():
    organiser = OrganiserFactory()
    event = EventFactory(organiser=organiser, title="Masterclass", slug="masterclass")
    lyon = VenueFactory(organiser=organiser, city="Lyon")
    SessionFactory(event=event, venue__city="Paris")
    SessionFactory(event=event, venue=lyon)
    TicketTypeFactory(
        event=event,
        name="Regular",
        price_minor=9000,
        early_bird_price_minor=6500,
        early_bird_deadline_at=timezone.now() + dt.timedelta(days=1),
    )
    EventFactory(organiser=organiser, status=Event.Status.DRAFT, slug="draft")
    other = EventFactory(slug="someone-elses")
    SessionFactory(event=other)
    return organiser, event


def test_no_key_bad_key_revoked_and_expired_are_401_in_the_error_shape(
    client, catalogue
):
    organiser, _ = catalogue
    revoked = _key(organiser)
    ApiKey.objects.filter(prefix=revoked.split("_")[1]).update(
        revoked_at=timezone.now()
    )
    expired = _key(organiser, expires_at=timezone.now() - dt.timedelta(seconds=1))
    for plain in (None, "tk_nope_nope", revoked, expired):
        response = _get(client, "/api/v1/events/", plain)
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert (
        _get(client, "/api/v1/events/").json()["error"]["code"] == "not_authenticated"
    )


def test_a_key_without_the_scope_is_403(client, catalogue):
    organiser, _ = catalogue
    response = _get(client, "/api/v1/events/", _key(organiser, scopes=("checkin",)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_list_shows_the_keys_organiser_published_events_with_prices(client, catalogue):
    organiser, event = catalogue
    plain = _key(organiser)
    body = _get(client, "/api/v1/events/", plain).json()
    assert body["count"] == 1
    assert [e["slug"] for e in body["results"]] == ["masterclass"]
    assert {s["city"] for s in body["results"][0]["sessions"]} == {"Paris", "Lyon"}
    only_lyon = _get(client, "/api/v1/events/", plain, city="lyon").json()
    assert [s["city"] for s in only_lyon["results"][0]["sessions"]] == ["Lyon"]
    detail = _get(client, "/api/v1/events/masterclass/", plain).json()
    assert detail["ticket_types"][0]["price"] == {"amount": 6500, "currency": "EUR"}
    assert detail["ticket_types"][0]["regular_price"] == {
        "amount": 9000,
        "currency": "EUR",
    }


def test_another_organisers_or_a_draft_event_is_404(client, catalogue):
    organiser, _ = catalogue
    plain = _key(organiser)
    for slug in ("someone-elses", "draft", "nothing-here"):
        response = _get(client, f"/api/v1/events/{slug}/", plain)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_the_error_shape(client, catalogue):
    organiser, _ = catalogue
    response = client.delete(
        "/api/v1/events/", HTTP_AUTHORIZATION=f"Bearer {_key(organiser)}"
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_throttled_key_gets_429_with_retry_after(client, catalogue, settings):
    from rest_framework.settings import api_settings

    from partner_api.auth import ApiKeyRateThrottle

    organiser, _ = catalogue
    plain = _key(organiser)
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "api_key": "2/min"}
    original = ApiKeyRateThrottle.THROTTLE_RATES
    ApiKeyRateThrottle.THROTTLE_RATES = rates
    try:
        statuses = [
            _get(client, "/api/v1/events/", plain).status_code for _ in range(3)
        ]
        last = _get(client, "/api/v1/events/", plain)
    finally:
        ApiKeyRateThrottle.THROTTLE_RATES = original
    assert statuses == [200, 200, 429]
    assert last.status_code == 429
    assert int(last["Retry-After"]) > 0
    assert last.json()["error"]["code"] == "throttled"


def test_create_api_key_prints_the_key_alone_on_its_last_line(client, catalogue):
    organiser, _ = catalogue
    out = StringIO()
    call_command(
        "create_api_key",
        organiser.slug,
        "--scopes",
        "read,write",
        "--name",
        "box office",
        stdout=out,
        stderr=StringIO(),
    )
    plain = out.getvalue().strip().splitlines()[-1]
    assert plain.startswith("tk_")
    key = ApiKey.objects.get(name="box office")
    assert key.scopes == ["read", "write"]
    assert plain.split("_", 2)[2] not in key.secret_hash
    assert _get(client, "/api/v1/events/", plain).status_code == 200
    assert AuditEntry.objects.filter(action="events.api_key.created").exists()


def test_admin_shows_a_new_key_once_and_revokes(client, catalogue):
    organiser, _ = catalogue
    owner = MembershipFactory(organiser=organiser, role=Membership.Role.OWNER)
    client.force_login(owner.user)
    page = client.post(
        reverse("admin:partner_api_apikey_add"),
        {"organiser": organiser.pk, "name": "reseller", "scopes": ["read", "write"]},
        follow=True,
    ).content.decode()
    key = ApiKey.objects.get(name="reseller")
    assert f"tk_{key.prefix}_" in page
    assert key.created_by == owner.user
    client.post(
        reverse("admin:partner_api_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEntry.objects.filter(action="events.api_key.revoked").exists()


def test_schema_and_docs_are_public(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_date_filters_accept_iso_and_refuse_anything_else_with_400(client, catalogue):
    organiser, _ = catalogue
    plain = _key(organiser)
    later = (timezone.now() + dt.timedelta(days=365)).date().isoformat()
    assert (
        _get(client, "/api/v1/events/", plain, starts_after=later).json()["count"] == 0
    )
    assert (
        _get(client, "/api/v1/events/", plain, starts_before=later).json()["count"] == 1
    )
    for bad in ("foo", "2026-13-45"):
        response = _get(client, "/api/v1/events/", plain, starts_after=bad)
        assert response.status_code == 400
        assert "starts_after" in response.json()["error"]["fields"]
