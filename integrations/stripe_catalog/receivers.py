"""Changes to events, sessions and ticket types queue a push, in the transaction of
the change (the admin's save runs in one; a bare save outside any gets its own,
right after it). Connecting or updating a Stripe account queues the organiser's
whole catalogue: what Stripe already has unchanged costs no call."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from events.models import Event, Session, TicketType
from payments.signals import connected_account_changed

from .models import CatalogSyncLog, PriceLink, ProductLink
from .services import catalog_push_enqueue, catalog_resync, catalog_syncs_organiser

logger = logging.getLogger(__name__)

Entity = CatalogSyncLog.Entity


def _organiser_of(event_id: int) -> int | None:
    """None while the event itself is being deleted (its children go first)."""
    return (
        Event.objects.filter(pk=event_id).values_list("organiser_id", flat=True).first()
    )


def _event_changed(event_id: int, organiser_id: int) -> None:
    if (
        catalog_syncs_organiser(organiser_id)
        or ProductLink.objects.filter(event_id=event_id).exists()
    ):
        catalog_push_enqueue(
            entity=Entity.EVENT, object_id=event_id, organiser_id=organiser_id
        )


@receiver(post_save, sender=Event, dispatch_uid="stripe_catalog_event_saved")
@receiver(post_delete, sender=Event, dispatch_uid="stripe_catalog_event_deleted")
def event_changed(sender, instance: Event, raw: bool = False, **kwargs) -> None:
    if not raw:  # fixtures being loaded are not changes
        _event_changed(instance.pk, instance.organiser_id)


@receiver(post_save, sender=Session, dispatch_uid="stripe_catalog_session_saved")
@receiver(post_delete, sender=Session, dispatch_uid="stripe_catalog_session_deleted")
def session_changed(sender, instance: Session, raw: bool = False, **kwargs) -> None:
    """Sessions make the event's start and end (Product metadata)."""
    if raw:
        return
    organiser_id = _organiser_of(instance.event_id)
    if organiser_id is not None:
        _event_changed(instance.event_id, organiser_id)


@receiver(post_save, sender=TicketType, dispatch_uid="stripe_catalog_type_saved")
@receiver(post_delete, sender=TicketType, dispatch_uid="stripe_catalog_type_deleted")
def ticket_type_changed(
    sender, instance: TicketType, raw: bool = False, **kwargs
) -> None:
    if raw:
        return
    organiser_id = _organiser_of(instance.event_id)
    linked = PriceLink.objects.filter(ticket_type_id=instance.pk)
    if organiser_id is None:  # deleted with its event
        organiser_id = linked.values_list("organiser_id", flat=True).first()
    if organiser_id is None:
        return
    if catalog_syncs_organiser(organiser_id) or linked.exists():
        catalog_push_enqueue(
            entity=Entity.TICKET_TYPE, object_id=instance.pk, organiser_id=organiser_id
        )


@receiver(connected_account_changed, dispatch_uid="stripe_catalog_account_changed")
def account_changed(sender, organiser_id: int, account_id: str, **kwargs) -> None:
    with transaction.atomic():
        catalog_resync(organiser_id=organiser_id, force=False)
