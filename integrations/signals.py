"""A deleted listing (by itself, or with its connection) stops counting at once."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Listing
from .services.connections import sessions_external_refresh_later


@receiver(post_delete, sender=Listing, dispatch_uid="integrations.listing_deleted")
def listing_deleted(sender, instance: Listing, **kwargs) -> None:
    sessions_external_refresh_later([instance.session_id])
