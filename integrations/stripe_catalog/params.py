"""What an event and a ticket type look like on Stripe: the parameters we send.

Limits are Stripe's (its OpenAPI description): a Product's `name` up to 5,000
characters and `description` up to 40,000; metadata values up to 500.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Max, Min

from events.models import Event, TicketType

NAME_MAX = 5000
DESCRIPTION_MAX = 40000
METADATA_VALUE_MAX = 500


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


def _metadata(values: dict[str, Any]) -> dict[str, str]:
    return {key: str(value)[:METADATA_VALUE_MAX] for key, value in values.items()}


def digest(params: dict[str, Any]) -> str:
    """A fingerprint of what we would send (without the sync time)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def product_params(event: Event) -> dict[str, Any]:
    """The Product of `event`: active while the event is published."""
    span = event.sessions.aggregate(start=Min("starts_at"), end=Max("ends_at"))
    return {
        "name": event.title[:NAME_MAX],
        "description": event.description[:DESCRIPTION_MAX],
        "active": event.is_published,
        "metadata": _metadata(
            {
                "event_id": event.pk,
                "event_slug": event.slug,
                "organiser_id": event.organiser_id,
                "event_start": _iso(span["start"]),
                "event_end": _iso(span["end"]),
            }
        ),
    }


def price_params(ticket_type: TicketType) -> dict[str, Any]:
    """The Price of `ticket_type` (without `product`). Capacity is the ticket type's
    allocation per session, "0" for no limit of its own."""
    return {
        "unit_amount": ticket_type.price_minor,
        "currency": ticket_type.event.currency.lower(),
        "nickname": ticket_type.name,
        "active": ticket_type.is_active,
        "metadata": _metadata(
            {
                "ticket_type_id": ticket_type.pk,
                "ticket_type_name": ticket_type.name,
                "event_id": ticket_type.event_id,
                "kind": ticket_type.kind,
                "capacity": ticket_type.allocation or 0,
            }
        ),
    }


def with_sync_time(params: dict[str, Any], synced_at: str) -> dict[str, Any]:
    return {**params, "metadata": {**params["metadata"], "last_synced": synced_at}}


def product_create_params(params: dict[str, Any]) -> dict[str, Any]:
    # Stripe refuses an empty string on create; on update "" clears the description.
    return {key: value for key, value in params.items() if value != ""}


PRICE_UPDATABLE = ("nickname", "active", "metadata")


def price_update_params(params: dict[str, Any]) -> dict[str, Any]:
    """A Price's amount and currency never change (Stripe refuses them)."""
    return {key: params[key] for key in PRICE_UPDATABLE}
