"""The outbox handler: push one event (Product) or ticket type (Price) to Stripe.

What Stripe ends up holding, per connected account:
- an event is one Product: name, description (cut to Stripe's limit), active while
  the event is published, metadata (event id, slug, organiser, start, end, last
  synced); unpublished or deleted, it is archived (`active=false`), never deleted;
- a ticket type is one active Price of its event's Product: unit_amount, currency,
  nickname, metadata (capacity...). Amount and currency are immutable at Stripe, so
  a change of either creates a new Price and then archives the old one; a
  deactivated or deleted ticket type's Price is archived;
- a Product missing at Stripe (404) is created again and its Prices follow; a Price
  push for an event not pushed yet pushes the Product first.

Idempotency keys are `catalog:<outbox row>:<version>:<action>:<object>`: a row run
again after a lost answer (a worker killed between Stripe's accept and our mark)
replays Stripe's first answer instead of making a second object; the parameters of
one key never change, since `last_synced` is the time of the change the row
carries. Creating an event's Product on an account takes a PostgreSQL advisory lock
(a session lock, no transaction or row lock held across the call), so an event row
and its ticket types' rows running at once make one Product, not two.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from events.models import Event, TicketType
from payments.selectors import connected_account_id
from ticketing.models import OutboxMessage

from . import params as stripe_params
from .client import CatalogClient, StripeObjectMissing
from .models import CatalogSyncLog, PriceLink, ProductLink
from .services import (
    catalog_push_enqueue,
    push_failed,
    push_succeeded,
    sync_log,
)

logger = logging.getLogger(__name__)

Action = CatalogSyncLog.Action
Entity = CatalogSyncLog.Entity
Status = CatalogSyncLog.Status
_LOCK_CLASS = 22_001  # advisory lock namespace of the catalogue sync


@dataclass(frozen=True, slots=True)
class Push:
    """One run of one outbox row."""

    row: str  # "<outbox id>:<version>"
    synced_at: str  # when the change it carries was made (ISO 8601)
    force: bool

    def key(self, action: str, entity: str, object_id: int) -> str:
        return f"catalog:{self.row}:{action}:{entity}:{object_id}"


def handle(message: OutboxMessage) -> None:
    """The handler of kind `stripe_catalog.push`. A failure is logged, alerts the
    organiser and is raised for the outbox to retry (429/5xx with backoff and
    Retry-After) or give up on (other 4xx)."""
    payload = message.payload
    entity, object_id = payload["entity"], int(payload["id"])
    push = Push(
        row=f"{message.pk}:{message.version}",
        synced_at=message.updated_at.isoformat(),
        force=bool(payload.get("force")),
    )
    state = {"account_id": ""}
    try:
        if entity == Entity.EVENT:
            organiser_id = event_push(object_id, push, state)
        else:
            organiser_id = ticket_type_push(object_id, push, state)
    except Exception as error:
        push_failed(
            organiser_id=message.organiser_id,
            entity=entity,
            object_id=object_id,
            account_id=state["account_id"],
            error=error,
        )
        raise
    push_succeeded(organiser_id=organiser_id)


@contextmanager
def event_lock(event_id: int, account_id: str) -> Iterator[None]:
    name = f"{event_id}:{account_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [_LOCK_CLASS, name])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LOCK_CLASS, name]
            )


def _log(link, entity: str, object_id: int, action: str, stripe_id: str) -> None:
    sync_log(
        organiser_id=link.organiser_id,
        entity=entity,
        object_id=object_id,
        account_id=link.account_id,
        action=action,
        status=Status.SUCCESS,
        stripe_id=stripe_id,
    )


def _update_action(link, wanted: dict) -> str:
    """An update that deactivates an active object archives it."""
    return Action.ARCHIVE if link.is_active and not wanted["active"] else Action.UPDATE


def _skipped(organiser_id: int, entity: str, object_id: int) -> int:
    logger.info(
        "No connected account for organiser %s: %s %s not pushed",
        organiser_id,
        entity,
        object_id,
    )
    sync_log(
        organiser_id=organiser_id,
        entity=entity,
        object_id=object_id,
        account_id="",
        action=Action.PUSH,
        status=Status.SKIPPED,
        error="The organiser has no Stripe connected account.",
    )
    return organiser_id


# -- events → Products -------------------------------------------------------------


def event_push(event_id: int, push: Push, state: dict) -> int | None:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return _products_archive(event_id, push, state)
    account_id = connected_account_id(event.organiser_id)
    if account_id is None:
        return _skipped(event.organiser_id, Entity.EVENT, event_id)
    state["account_id"] = account_id
    product_ensure(event, account_id, push)
    # A new currency means new Prices for every ticket type of the event.
    stale = PriceLink.objects.filter(event_id=event_id, account_id=account_id).exclude(
        currency=event.currency.lower()
    )
    _prices_follow(
        list(stale.values_list("ticket_type_id", flat=True)), event.organiser_id
    )
    return event.organiser_id


def product_ensure(
    event: Event, account_id: str, push: Push, *, only_if_missing: bool = False
) -> ProductLink:
    """The event's Product on `account_id`, made what the event says. With
    `only_if_missing`, an existing Product is kept as it is (a Price push needs its
    parent, not a Product update). Creating it takes the event lock, so that an
    event's push and its ticket types' pushes running at once make one Product;
    updating needs none (one push per object at a time: the outbox key)."""
    links = ProductLink.objects.filter(event_id=event.pk, account_id=account_id)
    link = links.first()
    if link is not None:
        return product_sync(event, link, account_id, push, only_if_missing)
    with event_lock(event.pk, account_id):
        link = links.first()  # made by another push while we waited
        return product_sync(event, link, account_id, push, only_if_missing)


def product_sync(
    event: Event,
    link: ProductLink | None,
    account_id: str,
    push: Push,
    only_if_missing: bool,
) -> ProductLink:
    if link and only_if_missing:
        return link
    wanted = stripe_params.product_params(event)
    digest = stripe_params.digest(wanted)
    if link and link.state_hash == digest and not push.force:
        return link
    sent = stripe_params.with_sync_time(wanted, push.synced_at)
    client = CatalogClient(account_id)
    if link is None:
        action = Action.CREATE
        product = client.product_create(
            stripe_params.product_create_params(sent),
            key=push.key("product.create", Entity.EVENT, event.pk),
        )
    else:
        try:
            product = client.product_update(
                link.product_id,
                sent,
                key=push.key("product.update", Entity.EVENT, event.pk),
            )
            action = _update_action(link, wanted)
        except StripeObjectMissing:
            action = Action.RECREATE
            product = client.product_create(
                stripe_params.product_create_params(sent),
                key=push.key("product.recreate", Entity.EVENT, event.pk),
            )
    link = link or ProductLink(event_id=event.pk, account_id=account_id)
    link.organiser_id = event.organiser_id
    link.product_id = product["id"]
    link.state_hash, link.state = digest, wanted
    link.is_active = wanted["active"]
    link.synced_at = timezone.now()
    with transaction.atomic():
        link.save()
        _log(link, Entity.EVENT, event.pk, action, product["id"])
        if action == Action.RECREATE:
            _prices_follow(
                list(
                    PriceLink.objects.filter(
                        event_id=event.pk, account_id=account_id
                    ).values_list("ticket_type_id", flat=True)
                ),
                event.organiser_id,
            )
    return link


def _prices_follow(type_ids: list[int], organiser_id: int) -> None:
    """Queue these ticket types' pushes (a new Product or currency)."""
    if not type_ids:
        return
    with transaction.atomic():
        for type_id in type_ids:
            if TicketType.objects.filter(pk=type_id).exists():
                catalog_push_enqueue(
                    entity=Entity.TICKET_TYPE,
                    object_id=type_id,
                    organiser_id=organiser_id,
                )


def _products_archive(event_id: int, push: Push, state: dict) -> int | None:
    """The event was deleted: archive its Product on every account that has one."""
    links = ProductLink.objects.filter(event_id=event_id, is_active=True)
    return _archive(links, Entity.EVENT, event_id, push, state)


# -- ticket types → Prices -----------------------------------------------------------


def ticket_type_push(type_id: int, push: Push, state: dict) -> int | None:
    ticket_type = TicketType.objects.select_related("event").filter(pk=type_id).first()
    if ticket_type is None:
        return _prices_archive(type_id, push, state)
    event = ticket_type.event
    account_id = connected_account_id(event.organiser_id)
    if account_id is None:
        return _skipped(event.organiser_id, Entity.TICKET_TYPE, type_id)
    state["account_id"] = account_id
    product = product_ensure(event, account_id, push, only_if_missing=True)
    price_sync(ticket_type, product, push)
    return event.organiser_id


def price_sync(ticket_type: TicketType, product: ProductLink, push: Push) -> None:
    account_id = product.account_id
    client = CatalogClient(account_id)
    wanted = stripe_params.price_params(ticket_type)
    digest = stripe_params.digest({**wanted, "product": product.product_id})
    link = PriceLink.objects.filter(
        ticket_type_id=ticket_type.pk, account_id=account_id
    ).first()
    if link and link.superseded_price_id:
        _price_archive_superseded(client, link, push)
    if link and link.state_hash == digest and not push.force:
        return
    sent = stripe_params.with_sync_time(wanted, push.synced_at)
    same_price = (
        link is not None
        and link.product_id == product.product_id
        and link.unit_amount == wanted["unit_amount"]
        and link.currency == wanted["currency"]
    )
    superseded = ""
    if same_price:
        try:
            price = client.price_update(
                link.price_id,
                stripe_params.price_update_params(sent),
                key=push.key("price.update", Entity.TICKET_TYPE, ticket_type.pk),
            )
            action = _update_action(link, wanted)
        except StripeObjectMissing:
            same_price = False
    if not same_price:
        try:
            price = client.price_create(
                {**sent, "product": product.product_id},
                key=push.key("price.create", Entity.TICKET_TYPE, ticket_type.pk),
            )
        except StripeObjectMissing:  # the Product went: make it again, then price
            product = product_ensure(
                ticket_type.event, account_id, dataclasses.replace(push, force=True)
            )
            price = client.price_create(
                {**sent, "product": product.product_id},
                key=push.key("price.create_again", Entity.TICKET_TYPE, ticket_type.pk),
            )
        action = Action.CREATE if link is None else Action.REPRICE
        if link is not None and link.price_id != price["id"]:
            superseded = link.price_id
    link = link or PriceLink(ticket_type_id=ticket_type.pk, account_id=account_id)
    link.organiser_id, link.event_id = product.organiser_id, ticket_type.event_id
    link.price_id, link.product_id = price["id"], product.product_id
    link.unit_amount, link.currency = wanted["unit_amount"], wanted["currency"]
    link.superseded_price_id = superseded
    link.state_hash, link.state = digest, wanted
    link.is_active = wanted["active"]
    link.synced_at = timezone.now()
    with transaction.atomic():
        link.save()
        _log(link, Entity.TICKET_TYPE, ticket_type.pk, action, price["id"])
    if superseded:
        _price_archive_superseded(client, link, push)


def _price_archive_superseded(client: CatalogClient, link: PriceLink, push) -> None:
    """Archive the Price a new one replaced (kept on the link until this is done,
    so a failure here is retried with the row)."""
    try:
        client.price_update(
            link.superseded_price_id,
            {"active": False},
            key=push.key("price.archive_old", Entity.TICKET_TYPE, link.ticket_type_id),
        )
    except StripeObjectMissing:
        logger.info("Superseded price %s already gone", link.superseded_price_id)
    link.superseded_price_id = ""
    link.save(update_fields=["superseded_price_id"])


def _prices_archive(type_id: int, push: Push, state: dict) -> int | None:
    """The ticket type was deleted: archive its Price on every account."""
    links = PriceLink.objects.filter(ticket_type_id=type_id, is_active=True)
    return _archive(links, Entity.TICKET_TYPE, type_id, push, state)


def _archive(links, entity: str, object_id: int, push: Push, state: dict):
    """Archive (`active=false`) the Stripe object of each link; one already gone at
    Stripe counts as archived. Returns the organiser, None if there was no link."""
    organiser_id = None
    for link in links:
        state["account_id"], organiser_id = link.account_id, link.organiser_id
        client = CatalogClient(link.account_id)
        if entity == Entity.EVENT:
            stripe_id, update = link.product_id, client.product_update
        else:
            stripe_id, update = link.price_id, client.price_update
        try:
            update(
                stripe_id,
                {"active": False},
                key=push.key("archive", entity, object_id),
            )
        except StripeObjectMissing:
            logger.info(
                "%s of deleted %s %s already gone", stripe_id, entity, object_id
            )
        link.is_active = False
        link.state_hash = ""
        link.synced_at = timezone.now()
        link.save(update_fields=["is_active", "state_hash", "synced_at"])
        _log(link, entity, object_id, Action.ARCHIVE, stripe_id)
    return organiser_id
