"""Gapless invoice numbers: one sequence row per organiser and series, locked.

`number_take` must run inside the transaction that issues the document: the row lock
is held until it commits, so a second issuer waits, and a rollback gives the number
back (PostgreSQL sequences would leave a gap there, hence a row). The row is created
with `ON CONFLICT DO NOTHING` so that first issues racing never fail.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from ..models import InvoiceSequence


def number_take(*, organiser_id: int, series: str) -> int:
    """The next number of (organiser, series). Locks the sequence row until commit."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_take must run inside the issuing transaction")
    InvoiceSequence.objects.bulk_create(
        [InvoiceSequence(organiser_id=organiser_id, series=series)],
        ignore_conflicts=True,
    )
    sequence = InvoiceSequence.objects.select_for_update().get(
        organiser_id=organiser_id, series=series
    )
    number = sequence.next_number
    InvoiceSequence.objects.filter(pk=sequence.pk).update(
        next_number=F("next_number") + 1
    )
    return number
