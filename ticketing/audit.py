"""Writing audit rows. Call inside the transaction of the change being recorded."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .models import AuditEntry


def actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    if isinstance(actor, str):
        return {"actor": None, "actor_label": actor[:100]}
    if getattr(actor, "is_authenticated", False):
        return {"actor": actor, "actor_label": actor.get_username()[:100]}
    return {"actor": None, "actor_label": str(actor)[:100]}


def audit_log(
    *,
    action: str,
    obj: models.Model | None = None,
    organiser_id: int | None = None,
    actor: Any = None,
    data: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        organiser_id=organiser_id,
        action=action,
        content_type=ContentType.objects.get_for_model(obj)
        if obj is not None
        else None,
        object_id=str(obj.pk) if obj is not None else "",
        data=data or {},
        **actor_fields(actor),
    )
