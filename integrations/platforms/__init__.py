"""Platform clients, chosen by the identifier stored on a connection."""

from __future__ import annotations

from importlib import import_module

from .base import PlatformClient

_CLIENTS = {
    "billetweb": "integrations.platforms.billetweb.BilletwebClient",
    "humanitix": "integrations.platforms.humanitix.HumanitixClient",
    "eventbrite": "integrations.platforms.eventbrite.EventbriteClient",
}


def client_class(identifier: str) -> type[PlatformClient]:
    try:
        module_name, _, class_name = _CLIENTS[identifier].rpartition(".")
    except KeyError:
        raise ValueError(f"No platform client for {identifier!r}") from None
    return getattr(import_module(module_name), class_name)
