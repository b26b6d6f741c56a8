"""What each membership role may do in the back office."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.urls import reverse

from events.models import Event, Membership, Organiser, Session, Venue
from events.tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganiserFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
    VenueFactory,
)

Role = Membership.Role


def _put(data: dict, name: str, widget, value) -> None:
    if isinstance(widget, RelatedFieldWidgetWrapper):
        widget = widget.widget
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, list | tuple) else widget.decompress(value)
        for suffix, sub, part in zip(
            widget.widgets_names, widget.widgets, parts, strict=True
        ):
            _put(data, f"{name}{suffix}", sub, part)
        return
    if isinstance(widget, forms.CheckboxInput):
        if value:
            data[name] = "on"
        return
    shown = widget.format_value(value)
    if isinstance(shown, list):
        shown = shown[0] if len(shown) == 1 else shown
    data[name] = "" if shown is None else shown


def admin_form_data(response, **changes) -> dict:
    """The POST a browser would send for the admin form in `response`, plus changes."""
    data: dict = {}

    def add(form):
        for bound in form:
            if not bound.field.disabled:
                _put(data, bound.html_name, bound.field.widget, bound.value())

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    data.update(changes)
    return data


def admin_url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def member(client, organiser, role):
    user = UserFactory()
    MembershipFactory(user=user, organiser=organiser, role=role)
    client.force_login(user)
    return user


@pytest.fixture
def organiser(db):
    return OrganiserFactory()


@pytest.fixture
def event(organiser):
    event = EventFactory(organiser=organiser, title="Jazz night")
    SessionFactory(event=event)
    TicketTypeFactory(event=event)
    return event


def test_member_without_django_permissions_reaches_the_catalogue(client, event):
    user = member(client, event.organiser, Role.STAFF)
    assert not user.user_permissions.exists()
    assert not user.is_superuser

    index = client.get(reverse("admin:index"))

    assert index.status_code == 200
    html = index.content.decode()
    for model in (Event, Venue):
        assert admin_url(model, "changelist") in html
    assert client.get(admin_url(Event, "changelist")).status_code == 200


def test_staff_account_without_membership_sees_no_catalogue(client, event):
    client.force_login(UserFactory())

    index = client.get(reverse("admin:index"))

    assert admin_url(Event, "changelist") not in index.content.decode()
    assert client.get(admin_url(Event, "changelist")).status_code == 403


def test_member_without_staff_flag_is_sent_to_login(client, event):
    user = member(client, event.organiser, Role.OWNER)
    user.is_staff = False
    user.save()

    response = client.get(admin_url(Event, "changelist"))

    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_viewer_can_view_but_not_change_add_or_delete(client, event):
    member(client, event.organiser, Role.VIEWER)
    venue = event.sessions.get().venue

    changelist = client.get(admin_url(Event, "changelist"))
    change = client.get(admin_url(Event, "change", event.pk))
    posted = client.post(
        admin_url(Event, "change", event.pk), admin_form_data(change, title="Renamed")
    )

    assert changelist.status_code == 200
    assert "publish_events" not in changelist.content.decode()
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert 'name="_save"' not in change.content.decode()
    assert posted.status_code == 403
    event.refresh_from_db()
    assert event.title == "Jazz night"
    for model in (Event, Venue, Organiser):
        assert client.get(admin_url(model, "add")).status_code == 403
    assert client.get(admin_url(Event, "delete", event.pk)).status_code == 403
    assert (
        client.post(admin_url(Venue, "delete", venue.pk), {"post": "yes"}).status_code
        == 403
    )
    assert Venue.objects.filter(pk=venue.pk).exists()


def test_viewer_does_not_see_members(client, organiser):
    member(client, organiser, Role.VIEWER)

    assert client.get(admin_url(Membership, "changelist")).status_code == 403


def test_staff_can_edit_but_not_delete(client, event):
    member(client, event.organiser, Role.STAFF)
    venue = event.sessions.get().venue

    change = client.get(admin_url(Venue, "change", venue.pk))
    saved = client.post(
        admin_url(Venue, "change", venue.pk), admin_form_data(change, name="Main hall")
    )
    changelist = client.get(admin_url(Venue, "changelist"))
    deleted = client.post(admin_url(Venue, "delete", venue.pk), {"post": "yes"})
    bulk = client.post(
        admin_url(Venue, "changelist"),
        {"action": "delete_selected", "_selected_action": [venue.pk], "post": "yes"},
    )

    assert saved.status_code == 302
    venue.refresh_from_db()
    assert venue.name == "Main hall"
    assert "delete_selected" not in changelist.content.decode()
    assert deleted.status_code == 403
    assert bulk.status_code in (200, 302)
    assert Venue.objects.filter(pk=venue.pk).exists()


def test_staff_edits_an_event_with_its_inlines(client, event):
    member(client, event.organiser, Role.STAFF)

    change = client.get(admin_url(Event, "change", event.pk))
    saved = client.post(
        admin_url(Event, "change", event.pk),
        admin_form_data(change, title="Jazz night II"),
    )

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    event.refresh_from_db()
    assert event.title == "Jazz night II"
    assert event.status == Event.Status.PUBLISHED  # status is read-only here


def test_manager_can_delete(client, organiser):
    member(client, organiser, Role.MANAGER)
    venue = VenueFactory(organiser=organiser)

    response = client.post(admin_url(Venue, "delete", venue.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Venue.objects.filter(pk=venue.pk).exists()


def test_single_organiser_is_preset_on_add(client, organiser):
    member(client, organiser, Role.STAFF)

    add = client.get(admin_url(Venue, "add"))
    field = add.context["adminform"].form.fields["organiser"]
    response = client.post(
        admin_url(Venue, "add"),
        {
            "name": "Annex",
            "address": "2 rue Haute",
            "city": "Lyon",
            "country": "FR",
            "timezone": "Europe/Paris",
            "organiser": OrganiserFactory().pk,
        },
    )

    assert field.disabled is True
    assert field.initial == organiser.pk
    assert list(field.queryset) == [organiser]
    assert response.status_code == 302
    assert Venue.objects.get(name="Annex").organiser == organiser


def test_choices_follow_the_role_per_organiser(client, organiser):
    """Staff in A and viewer in C: only A's venues can be attached to a session."""
    user = member(client, organiser, Role.STAFF)
    viewed = OrganiserFactory()
    MembershipFactory(user=user, organiser=viewed, role=Role.VIEWER)
    own, other = VenueFactory(organiser=organiser), VenueFactory(organiser=viewed)

    add = client.get(admin_url(Session, "add"))
    venues = set(add.context["adminform"].form.fields["venue"].queryset)

    assert own in venues
    assert other not in venues


def test_owner_manages_members(client, organiser):
    owner = member(client, organiser, Role.OWNER)
    newcomer = UserFactory(username="newcomer")

    added = client.post(
        admin_url(Membership, "add"), {"user": "newcomer", "role": Role.STAFF}
    )
    membership = Membership.objects.get(user=newcomer)
    promoted = client.post(
        admin_url(Membership, "change", membership.pk), {"role": Role.MANAGER}
    )
    membership.refresh_from_db()
    role_after_promotion = membership.role
    removed = client.post(
        admin_url(Membership, "delete", membership.pk), {"post": "yes"}
    )

    assert added.status_code == 302
    assert membership.organiser == organiser
    assert promoted.status_code == 302
    assert role_after_promotion == Role.MANAGER
    assert removed.status_code == 302
    assert not Membership.objects.filter(user=newcomer).exists()
    assert Membership.objects.filter(user=owner, role=Role.OWNER).exists()


def test_owner_cannot_add_an_unknown_username(client, organiser):
    member(client, organiser, Role.OWNER)

    response = client.post(
        admin_url(Membership, "add"), {"user": "nobody", "role": Role.STAFF}
    )

    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert Membership.objects.filter(organiser=organiser).count() == 1


def test_last_owner_cannot_be_demoted_or_removed(client, organiser):
    owner = member(client, organiser, Role.OWNER)
    membership = Membership.objects.get(user=owner)

    demoted = client.post(
        admin_url(Membership, "change", membership.pk), {"role": Role.STAFF}
    )
    removed = client.post(
        admin_url(Membership, "delete", membership.pk), {"post": "yes"}
    )

    assert demoted.status_code == 200
    assert "role" in demoted.context["adminform"].form.errors
    assert removed.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF])
def test_only_owners_manage_members(client, organiser, role):
    member(client, organiser, role)
    other = MembershipFactory(organiser=organiser, role=Role.VIEWER)

    assert client.get(admin_url(Membership, "add")).status_code == 403
    response = client.post(
        admin_url(Membership, "change", other.pk), {"role": Role.OWNER}
    )

    assert response.status_code == 403
    other.refresh_from_db()
    assert other.role == Role.VIEWER


def test_only_superusers_create_organisers(client, organiser):
    member(client, organiser, Role.OWNER)
    assert client.get(admin_url(Organiser, "add")).status_code == 403

    client.force_login(UserFactory(is_superuser=True))
    assert client.get(admin_url(Organiser, "add")).status_code == 200


def test_owner_edits_organiser_but_not_its_reference_prefix(client, organiser):
    member(client, organiser, Role.OWNER)
    prefix = organiser.reference_prefix

    change = client.get(admin_url(Organiser, "change", organiser.pk))
    saved = client.post(
        admin_url(Organiser, "change", organiser.pk),
        admin_form_data(change, name="Renamed", reference_prefix="ZZ"),
    )

    assert saved.status_code == 302
    organiser.refresh_from_db()
    assert organiser.name == "Renamed"
    assert organiser.reference_prefix == prefix
