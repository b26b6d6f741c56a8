"""Writes to the catalogue. Each public function owns its transaction and audits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, models, transaction
from django.utils.translation import gettext_lazy as _

from ticketing.audit import audit_log

from .models import Event, Session, TicketType


# These belong in events/exceptions.py; they live here until that module exists.
class CatalogueError(Exception):
    """A catalogue change was refused; `message` is safe to show to the user."""

    code = "catalogue_error"
    default_message = _("This change could not be made.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class InvalidTransition(CatalogueError):
    code = "invalid_transition"


class NotPublishable(CatalogueError):
    code = "not_publishable"


class CapacityBelowSold(CatalogueError):
    code = "capacity_below_sold"


class CatalogueBusy(CatalogueError):
    code = "busy"
    default_message = _("This row is busy (tickets are being sold); please try again.")


def _bounded_lock_wait() -> None:
    """Wait at most INVENTORY_LOCK_TIMEOUT_MS for a row that a sale is holding."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)",
            [f"{settings.INVENTORY_LOCK_TIMEOUT_MS}ms"],
        )


def _locked(model: type[models.Model], pk: int) -> Any:
    _bounded_lock_wait()
    try:
        return model.objects.select_for_update(of=("self",)).get(pk=pk)
    except OperationalError as exc:
        raise CatalogueBusy from exc


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _apply_changes(obj: models.Model, fields: Mapping[str, Any]) -> dict[str, dict]:
    """Set `fields` on `obj`; return {attname: {"before", "after"}} of real changes."""
    changes = {}
    for name, value in fields.items():
        field = obj._meta.get_field(name)
        before = getattr(obj, field.attname)
        setattr(obj, name, value)
        after = getattr(obj, field.attname)
        if before != after:
            changes[field.attname] = {
                "before": _jsonable(before),
                "after": _jsonable(after),
            }
    return changes


def _save_and_audit(
    obj: models.Model,
    *,
    fields: Mapping[str, Any],
    changes: dict[str, dict],
    action: str,
    organiser_id: int,
    actor: Any,
) -> None:
    obj.full_clean()
    if not changes:
        return
    obj.save(update_fields=[obj._meta.get_field(name).name for name in fields])
    audit_log(
        action=action,
        obj=obj,
        organiser_id=organiser_id,
        actor=actor,
        data={"changes": changes},
    )


@transaction.atomic
def event_publish(*, event: Event, actor: Any) -> Event:
    """Put a draft event on sale. Needs a session and an active ticket type."""
    event = _locked(Event, event.pk)
    if event.status != Event.Status.DRAFT:
        raise InvalidTransition(
            _("“%(event)s” is %(status)s; only a draft can be published.")
            % {"event": event, "status": event.get_status_display().lower()}
        )
    if not event.sessions.exists():
        raise NotPublishable(
            _("“%(event)s” has no session yet; add one before publishing.")
            % {"event": event}
        )
    if not event.ticket_types.filter(is_active=True).exists():
        raise NotPublishable(
            _("“%(event)s” has no active ticket type; add one before publishing.")
            % {"event": event}
        )
    return _set_status(event, Event.Status.PUBLISHED, "events.event.published", actor)


@transaction.atomic
def event_unpublish(*, event: Event, actor: Any) -> Event:
    """Take a published event back to draft: it leaves the shop and the API."""
    event = _locked(Event, event.pk)
    if event.status != Event.Status.PUBLISHED:
        raise InvalidTransition(_("“%(event)s” is not published.") % {"event": event})
    return _set_status(event, Event.Status.DRAFT, "events.event.unpublished", actor)


def _set_status(event: Event, status: str, action: str, actor: Any) -> Event:
    before = event.status
    event.status = status
    event.full_clean()
    event.save(update_fields=["status", "updated_at"])
    audit_log(
        action=action,
        obj=event,
        organiser_id=event.organiser_id,
        actor=actor,
        data={"changes": {"status": {"before": before, "after": status}}},
    )
    return event


def _unique_slug(base: str) -> str:
    max_length = Event._meta.get_field("slug").max_length
    number = 1
    while True:
        suffix = "-copy" if number == 1 else f"-copy-{number}"
        slug = base[: max_length - len(suffix)] + suffix
        if not Event.objects.filter(slug=slug).exists():
            return slug
        number += 1


@transaction.atomic
def event_duplicate(*, event: Event, actor: Any) -> Event:
    """A draft copy of `event` with its sessions and ticket types.

    Sales counters and external sync state start from zero; the slug gets a
    `-copy` suffix (then `-copy-2`...). Bookings are not copied.
    """
    source = Event.objects.get(pk=event.pk)
    title_length = Event._meta.get_field("title").max_length
    duplicate = Event(
        organiser_id=source.organiser_id,
        title=f"{source.title} (copy)"[:title_length],
        slug=_unique_slug(source.slug),
        description=source.description,
        image=source.image.name,
        status=Event.Status.DRAFT,
        currency=source.currency,
        timezone=source.timezone,
        sales_start_at=source.sales_start_at,
        sales_end_at=source.sales_end_at,
    )
    duplicate.full_clean()
    duplicate.save()
    sessions = [
        Session(
            event=duplicate,
            venue_id=session.venue_id,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            capacity=session.capacity,
            sale_status=session.sale_status,
        )
        for session in source.sessions.order_by("starts_at", "pk")
    ]
    Session.objects.bulk_create(sessions)
    skip = {"id", "event"}
    ticket_types = []
    for ticket_type in source.ticket_types.order_by("position", "pk"):
        values = {
            field.attname: getattr(ticket_type, field.attname)
            for field in TicketType._meta.concrete_fields
            if field.name not in skip
        }
        ticket_types.append(TicketType(event=duplicate, **values))
    TicketType.objects.bulk_create(ticket_types)
    audit_log(
        action="events.event.duplicated",
        obj=duplicate,
        organiser_id=duplicate.organiser_id,
        actor=actor,
        data={
            "source_event_id": source.pk,
            "sessions": len(sessions),
            "ticket_types": len(ticket_types),
        },
    )
    return duplicate


@transaction.atomic
def session_update(
    *, session: Session, actor: Any, fields: Mapping[str, Any]
) -> Session:
    """Change editable fields of a session under its row lock, auditing before/after.

    Only `fields` are written, so the sold counters (changed by sales under the
    same lock) are never overwritten with stale values. Capacity may not drop
    below the seats already sold here and on external platforms.
    """
    locked = _locked(Session, session.pk)
    changes = _apply_changes(locked, fields)
    sold = locked.sold_count + locked.external_sold_count
    if "capacity" in changes and locked.capacity < sold:
        raise CapacityBelowSold(
            _("Capacity cannot be below the %(sold)d seats already sold.")
            % {"sold": sold}
        )
    _save_and_audit(
        locked,
        fields=fields,
        changes=changes,
        action="events.session.updated",
        organiser_id=locked.event.organiser_id,
        actor=actor,
    )
    return locked


@transaction.atomic
def ticket_type_update(
    *, ticket_type: TicketType, actor: Any, fields: Mapping[str, Any]
) -> TicketType:
    """Change a ticket type (price, allocation...) under its row lock, audited."""
    locked = _locked(TicketType, ticket_type.pk)
    changes = _apply_changes(locked, fields)
    _save_and_audit(
        locked,
        fields=fields,
        changes=changes,
        action="events.ticket_type.updated",
        organiser_id=locked.event.organiser_id,
        actor=actor,
    )
    return locked


def changed_model_fields(obj: models.Model, changed: list[str]) -> dict[str, Any]:
    """The editable model fields among a form's `changed_data`, with their values."""
    names = {field.name for field in obj._meta.concrete_fields if field.editable}
    return {name: getattr(obj, name) for name in changed if name in names}
