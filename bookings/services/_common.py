"""Pieces every selling service shares."""

from __future__ import annotations

from django.db import transaction

from .. import signals
from ..models import Booking
from ..selectors import availability_invalidate


def after_commit(session_id: int, confirmed_booking_id: int | None = None) -> None:
    """Called inside the selling transaction: tells the layers above now what must
    commit with it (`booking_status_changed`), and after commit the rest."""
    transaction.on_commit(lambda: availability_invalidate([session_id]))
    if confirmed_booking_id is not None:
        status_changed(confirmed_booking_id, Booking.Status.CONFIRMED)
        transaction.on_commit(
            lambda: signals.booking_confirmed.send(
                sender=Booking, booking_id=confirmed_booking_id
            )
        )


def status_changed(booking_id: int, status: str, previous: str = "") -> None:
    signals.booking_status_changed.send(
        sender=Booking, booking_id=booking_id, status=status, previous=previous
    )
