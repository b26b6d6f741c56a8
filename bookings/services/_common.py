"""Pieces every selling service shares."""

from __future__ import annotations

from django.db import transaction

from .. import signals
from ..models import Booking
from ..selectors import availability_invalidate


def after_commit(session_id: int, confirmed_booking_id: int | None = None) -> None:
    transaction.on_commit(lambda: availability_invalidate([session_id]))
    if confirmed_booking_id is not None:
        transaction.on_commit(
            lambda: signals.booking_confirmed.send(
                sender=Booking, booking_id=confirmed_booking_id
            )
        )
