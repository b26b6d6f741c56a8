"""Organiser A cannot read or change organiser B's data in the admin, for every model.

The checks iterate `admin.site._registry`, so a model registered later is covered as
soon as it is registered: an `OrganiserScopedAdmin` model is built for organisers A
and B with the factory found in `<app>.tests.factories` (passing the admin's
`organiser_path`, e.g. `BookingFactory(organiser=a)` or
`BookingLineFactory(booking__organiser=a)`), and any other admin must be
superuser-only. A registered model the test cannot build fails
`test_every_registered_model_is_covered`.
"""

from __future__ import annotations

import importlib

import factory
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.urls import reverse

from events.models import Membership, Organiser
from events.tests.factories import MembershipFactory, OrganiserFactory, UserFactory
from ticketing.admin_scoping import (
    OrganiserScopedAdmin,
    organiser_id_of,
    organiser_path_for,
)

ROLES = [role.value for role in Membership.Role]
A_NAME, B_NAME = "Alpha Tenant", "Bravo Tenant"
# Shared by every organiser: offering them as choices leaks no organiser's data.
GLOBAL_MODELS = {get_user_model(), Group, Permission, ContentType}


def _discover_factories() -> dict[type, type]:
    found: dict[type, type] = {}
    for config in apps.get_app_configs():
        module_name = f"{config.name}.tests.factories"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # this app has no factories module
            raise
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, factory.django.DjangoModelFactory)
                and value._meta.model is not None
            ):
                model = value._meta.get_model_class()
                if value.__name__ == f"{model.__name__}Factory" or model not in found:
                    found[model] = value
    return found


FACTORIES = _discover_factories()
REGISTRY = dict(admin.site._registry)
SCOPED = sorted(
    (
        model
        for model, model_admin in REGISTRY.items()
        if isinstance(model_admin, OrganiserScopedAdmin)
    ),
    key=lambda model: model._meta.label,
)
BUILDABLE = [model for model in SCOPED if model is Organiser or model in FACTORIES]
UNSCOPED = sorted(
    (model for model in REGISTRY if model not in SCOPED),
    key=lambda model: model._meta.label,
)


def _label(model) -> str:
    return model._meta.label


def _url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def build_for(model, organiser: Organiser):
    """One `model` row belonging to `organiser`, through the model's factory."""
    if model is Organiser:
        return organiser
    path = REGISTRY[model].organiser_path
    factory_class = FACTORIES[model]
    last = get_fields_from_path(model, path)[-1]
    obj = factory_class(**{path: organiser if last.is_relation else organiser.pk})
    assert organiser_id_of(obj, path) == organiser.pk, (
        f"{factory_class.__name__}({path}=...) did not build a row of that organiser"
    )
    return obj


def _snapshot(obj) -> dict:
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {
        field.attname: getattr(fresh, field.attname)
        for field in type(obj)._meta.concrete_fields
    }


def _login_member(client, organiser, role, **extra_memberships):
    user = UserFactory()
    MembershipFactory(user=user, organiser=organiser, role=role)
    for other in extra_memberships.get("also", ()):
        MembershipFactory(user=user, organiser=other, role=role)
    client.force_login(user)
    return user


@pytest.fixture
def world(db):
    """Organisers A and B, each with one row of every scoped admin model."""
    a = OrganiserFactory(name=A_NAME)
    b = OrganiserFactory(name=B_NAME)
    rows = {"a": a, "b": b, "A": {}, "B": {}}
    for model in BUILDABLE:
        rows["A"][model] = build_for(model, a)
        rows["B"][model] = build_for(model, b)
    return rows


@pytest.fixture
def world_model(world, model):
    """The parametrized model, failing loudly when the test cannot build it."""
    if model not in BUILDABLE:
        pytest.fail(
            f"No factory for {_label(model)}: add {model.__name__}Factory to "
            f"{model._meta.app_label}/tests/factories.py"
        )
    return model


def test_every_registered_model_is_covered():
    unbuildable = [
        _label(model)
        for model in SCOPED
        if model is not Organiser and model not in FACTORIES
    ]
    unscoped_tenant_models = [
        _label(model) for model in UNSCOPED if organiser_path_for(model) is not None
    ]
    assert not unbuildable, (
        "Registered in the admin but no factory to build them for the tenancy "
        f"test: {unbuildable}"
    )
    assert not unscoped_tenant_models, (
        "Organiser-owned models registered without OrganiserScopedAdmin: "
        f"{unscoped_tenant_models}"
    )
    assert {
        "events.Event",
        "events.Session",
        "events.TicketType",
        "ticketing.AuditEntry",
    } <= {_label(model) for model in SCOPED}


@pytest.mark.parametrize("model", UNSCOPED, ids=_label)
@pytest.mark.django_db
def test_unscoped_admins_are_superuser_only(client, model):
    _login_member(client, OrganiserFactory(), Membership.Role.OWNER)
    assert client.get(_url(model, "changelist")).status_code == 403
    assert client.get(_url(model, "add")).status_code == 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_changelist_lists_only_own_organiser_rows(client, world, world_model, role):
    model = world_model
    model_admin = REGISTRY[model]
    _login_member(client, world["a"], role)

    response = client.get(_url(model, "changelist"))

    may_view = role in {*model_admin.view_roles, *model_admin.change_roles}
    if not may_view:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    listed = set(response.context["cl"].queryset.values_list("pk", flat=True))
    assert world["A"][model].pk in listed
    assert world["B"][model].pk not in listed
    html = response.content.decode()
    assert _url(model, "change", world["B"][model].pk) not in html
    assert B_NAME not in html  # rows, filters and choices alike


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_other_organisers_row_cannot_be_opened_changed_or_deleted(
    client, world, world_model, role
):
    model = world_model
    other = world["B"][model]
    before = _snapshot(other)
    _login_member(client, world["a"], role)

    for url in (
        _url(model, "change", other.pk),
        _url(model, "delete", other.pk),
        _url(model, "history", other.pk),
    ):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        if response.status_code == 302:
            assert str(other.pk) not in response.url
        assert B_NAME not in response.content.decode()
    client.post(_url(model, "change", other.pk), {"_save": "Save"})
    client.post(_url(model, "delete", other.pk), {"post": "yes"})
    client.post(
        _url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )

    assert _snapshot(other) == before


def _choice_fields(response):
    """(name, field, is the main form) of every choice field the page offers."""
    fields = []
    form = response.context["adminform"].form
    fields += [(name, field, True) for name, field in form.fields.items()]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        # The hidden row id only names rows of the formset's own queryset.
        pk_name = formset.model._meta.pk.name
        fields += [
            (f"{formset.prefix}.{name}", field, False)
            for name, field in formset.empty_form.fields.items()
            if name != pk_name
        ]
    return [
        (name, field, main)
        for name, field, main in fields
        if isinstance(field, ModelChoiceField)
    ]


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_forms_offer_no_other_organisers_choices(client, world, world_model):
    model = world_model
    model_admin = REGISTRY[model]
    third = OrganiserFactory()  # two organisers, so the organiser field is a choice
    _login_member(client, world["a"], Membership.Role.OWNER, also=[third])
    b = world["b"]

    add = client.get(_url(model, "add"))
    change = client.get(_url(model, "change", world["A"][model].pk))
    assert add.status_code == (200 if model_admin.add_roles else 403)
    assert change.status_code == 200

    unscoped, leaking = [], []
    pages = [("add", add), ("change", change)]
    for page, response in pages:
        if response.status_code != 200:
            continue
        for name, field, _main in _choice_fields(response):
            related = field.queryset.model
            if related in GLOBAL_MODELS:
                continue
            path = organiser_path_for(related)
            if path is None:
                unscoped.append(f"{page}:{name} -> {_label(related)}")
            elif field.queryset.filter(**{f"{path}__in": [b.pk]}).exists():
                leaking.append(f"{page}:{name}")
    assert not unscoped, f"Choices of models with no organiser path: {unscoped}"
    assert not leaking, f"Organiser B's rows offered in: {leaking}"

    if add.status_code != 200:
        return
    count = model._default_manager.count()
    for name, field, main in _choice_fields(add):
        related = field.queryset.model
        if not main or related in GLOBAL_MODELS or field.disabled:
            continue
        path = organiser_path_for(related)
        foreign = related._default_manager.filter(**{f"{path}__in": [b.pk]}).first()
        assert foreign is not None, f"world has no {_label(related)} of B"
        value = str(getattr(foreign, field.to_field_name or "pk"))
        posted = [value] if isinstance(field, ModelMultipleChoiceField) else value

        response = client.post(_url(model, "add"), {name: posted})

        assert response.status_code == 200
        assert name in response.context["adminform"].form.errors, name
    assert model._default_manager.count() == count


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_superuser_sees_every_organiser(client, world, world_model):
    model = world_model
    client.force_login(UserFactory(is_superuser=True))

    response = client.get(_url(model, "changelist"))

    assert response.status_code == 200
    listed = set(response.context["cl"].queryset.values_list("pk", flat=True))
    assert {world["A"][model].pk, world["B"][model].pk} <= listed
    assert client.get(_url(model, "change", world["B"][model].pk)).status_code == 200
