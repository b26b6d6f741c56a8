"""Discount codes: finding one, locking it, and counting its uses.

The price a code gives is the pricing function's business (`pricing.price_basket`);
whether a code still has uses left is decided here, under the code's row lock, in the
sale's transaction (`services.holds`). The lock comes after the session and ticket
type locks, in that one order, so two sales never deadlock; it serialises the sales
that use one code, across every session it reaches, and nothing else.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils.translation import gettext as _

from .exceptions import BasketInvalid, DiscountCodeUsedUp
from .models import Booking, DiscountCode

CODE_MAX_LENGTH = 40


def normalise(text: str) -> str:
    return (text or "").strip().upper()


def _unknown() -> BasketInvalid:
    return BasketInvalid({"code": [_("This code is not valid.")]})


def discount_code_get(*, organiser_id: int, text: str) -> DiscountCode | None:
    """The organiser's code typed as `text` (any case), None for no text; an unknown
    code raises BasketInvalid on the field `code`."""
    text = normalise(text)
    if not text:
        return None
    if len(text) > CODE_MAX_LENGTH:
        raise _unknown()
    code = (
        DiscountCode.objects.filter(organiser_id=organiser_id, code__iexact=text)
        .prefetch_related("events", "sessions", "ticket_types")
        .first()
    )
    if code is None:
        raise _unknown()
    return code


def discount_code_for_update(*, organiser_id: int, text: str) -> DiscountCode | None:
    """`discount_code_get`, the row locked FOR UPDATE until the transaction ends."""
    text = normalise(text)
    if not text:
        return None
    if len(text) > CODE_MAX_LENGTH:
        raise _unknown()
    code = (
        DiscountCode.objects.select_for_update(of=("self",))
        .filter(organiser_id=organiser_id, code__iexact=text)
        .prefetch_related("events", "sessions", "ticket_types")
        .first()
    )
    if code is None:
        raise _unknown()
    return code


def discount_code_lock(code_id: int) -> DiscountCode:
    """Lock a code known by id (a booking's) FOR UPDATE, as `discount_code_for_update`
    does for a code typed by a buyer."""
    return DiscountCode.objects.select_for_update(of=("self",)).get(pk=code_id)


def _in_use(code: DiscountCode, now: dt.datetime, excluding: int | None = None):
    in_use = Booking.objects.filter(discount_code=code).filter(
        Q(status=Booking.Status.CONFIRMED)
        | Q(status=Booking.Status.PENDING, expires_at__gt=now)
    )
    return in_use.exclude(pk=excluding) if excluding is not None else in_use


def discount_code_uses(
    code: DiscountCode, now: dt.datetime, excluding: int | None = None
) -> int:
    return _in_use(code, now, excluding).count()


def discount_code_check_uses(
    code: DiscountCode,
    *,
    email: str,
    now: dt.datetime,
    excluding: int | None = None,
) -> None:
    """Raise DiscountCodeUsedUp when one more booking (other than the booking
    `excluding`) would pass a usage limit. Exact only with the code's row locked
    (`discount_code_for_update`, `discount_code_lock`)."""
    if (
        code.max_uses is not None
        and discount_code_uses(code, now, excluding) >= code.max_uses
    ):
        raise DiscountCodeUsedUp()
    if code.max_uses_per_email is not None and email:
        mine = (
            _in_use(code, now, excluding)
            .filter(buyer_email__iexact=email.strip())
            .count()
        )
        if mine >= code.max_uses_per_email:
            raise DiscountCodeUsedUp(
                _("This code has already been used with this email address.")
            )
