import datetime as dt

import pytest
from django.utils import timezone

from bookings.exceptions import DiscountCodeUsedUp, InvalidTransition, SoldOut
from bookings.models import Booking
from bookings.services import (
    BuyerInput,
    booking_cancel,
    booking_confirm,
    booking_expire_stale,
    booking_mark_refunded,
)
from ticketing.models import AuditEntry

from .helpers import hold

pytestmark = pytest.mark.django_db


def _expire(booking):
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def _seats(session):
    session.refresh_from_db()
    return session.sold_count


def test_confirm_moves_seats_from_held_to_sold_and_is_idempotent(session, ticket_type):
    booking = hold(session, (ticket_type, 3))
    confirmed = booking_confirm(booking_id=booking.pk)
    assert confirmed.status == Booking.Status.CONFIRMED
    assert confirmed.confirmed_at is not None
    assert confirmed.expires_at is None
    assert _seats(session) == 3
    again = booking_confirm(booking_id=booking.pk)
    assert again.status == Booking.Status.CONFIRMED
    assert _seats(session) == 3
    assert (
        AuditEntry.objects.filter(
            action="bookings.booking.confirmed", object_id=str(booking.pk)
        ).count()
        == 1
    )
    # Held seats became sold seats: seven left, not four.
    assert hold(session, (ticket_type, 7)).quantity == 7


def test_late_payment_retakes_free_seats(session, ticket_type):
    booking = hold(session, (ticket_type, 4))
    _expire(booking)
    booking_expire_stale()
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.EXPIRED
    confirmed = booking_confirm(booking_id=booking.pk)
    assert confirmed.status == Booking.Status.CONFIRMED
    assert _seats(session) == 4
    assert (
        AuditEntry.objects.get(
            action="bookings.booking.confirmed", object_id=str(booking.pk)
        ).data["late"]
        is True
    )


def test_late_payment_when_seats_are_gone_is_flagged_not_confirmed(
    session, ticket_type
):
    late = hold(session, (ticket_type, 4))
    _expire(late)
    hold(session, (ticket_type, 8))
    with pytest.raises(SoldOut):
        booking_confirm(booking_id=late.pk)
    late.refresh_from_db()
    assert late.status == Booking.Status.PENDING
    assert late.needs_attention is True
    assert _seats(session) == 0
    assert AuditEntry.objects.filter(
        action="bookings.booking.late_payment_sold_out", object_id=str(late.pk)
    ).exists()


def _one_use_code(session):
    from .factories import DiscountCodeFactory

    return DiscountCodeFactory(
        organiser=session.event.organiser, code="ONCE", percent=10, max_uses=1
    )


def test_late_payment_whose_code_was_used_since_is_flagged_not_confirmed(
    session, ticket_type
):
    """The late buyer's hold gave the code's one use back when it expired; another
    buyer took it. Paying late must not make it two uses."""
    code = _one_use_code(session)
    late = hold(session, (ticket_type, 1), discount_code="ONCE")
    _expire(late)
    other = hold(
        session,
        (ticket_type, 1),
        discount_code="ONCE",
        buyer=BuyerInput(name="Bo", email="bo@example.org"),
    )
    booking_confirm(booking_id=other.pk)
    with pytest.raises(DiscountCodeUsedUp):
        booking_confirm(booking_id=late.pk)
    late.refresh_from_db()
    assert late.status == Booking.Status.PENDING
    assert late.needs_attention is True
    assert _seats(session) == 1
    assert (
        Booking.objects.filter(
            discount_code=code, status=Booking.Status.CONFIRMED
        ).count()
        == 1
    )
    assert AuditEntry.objects.filter(
        action="bookings.booking.late_payment_code_used_up", object_id=str(late.pk)
    ).exists()


def test_late_payment_retakes_its_codes_use_when_one_is_left(session, ticket_type):
    code = _one_use_code(session)
    late = hold(session, (ticket_type, 1), discount_code="ONCE")
    _expire(late)
    booking_expire_stale()
    confirmed = booking_confirm(booking_id=late.pk)
    assert confirmed.status == Booking.Status.CONFIRMED
    assert confirmed.needs_attention is False
    assert confirmed.discount_code_id == code.pk


def test_cancel_pending_and_confirmed_return_seats(session, ticket_type):
    pending = hold(session, (ticket_type, 5))
    paid = hold(session, (ticket_type, 5))
    booking_confirm(booking_id=paid.pk)
    assert _seats(session) == 5
    assert (
        booking_cancel(booking_id=pending.pk, reason="buyer asked").status
        == Booking.Status.CANCELLED
    )
    assert booking_cancel(booking_id=paid.pk).status == Booking.Status.CANCELLED
    assert _seats(session) == 0
    assert hold(session, (ticket_type, 10)).quantity == 10
    entry = AuditEntry.objects.get(
        action="bookings.booking.cancelled", object_id=str(pending.pk)
    )
    assert entry.data == {
        "reference": pending.reference,
        "from": "pending",
        "to": "cancelled",
        "reason": "buyer asked",
    }


def test_cancel_twice_is_refused_and_changes_nothing(session, ticket_type):
    booking = hold(session, (ticket_type, 2))
    booking_confirm(booking_id=booking.pk)
    booking_cancel(booking_id=booking.pk)
    with pytest.raises(InvalidTransition, match="cancelled"):
        booking_cancel(booking_id=booking.pk)
    assert _seats(session) == 0
    assert AuditEntry.objects.filter(action="bookings.booking.cancelled").count() == 1


def test_refund_returns_seats_once(session, ticket_type):
    booking = hold(session, (ticket_type, 2))
    booking_confirm(booking_id=booking.pk)
    assert (
        booking_mark_refunded(booking_id=booking.pk).status == Booking.Status.REFUNDED
    )
    assert (
        booking_mark_refunded(booking_id=booking.pk).status == Booking.Status.REFUNDED
    )
    assert _seats(session) == 0
    assert AuditEntry.objects.filter(action="bookings.booking.refunded").count() == 1


def test_transitions_that_make_no_sense_are_refused(session, ticket_type):
    pending = hold(session, (ticket_type, 1))
    with pytest.raises(InvalidTransition):
        booking_mark_refunded(booking_id=pending.pk)
    booking_cancel(booking_id=pending.pk)
    with pytest.raises(InvalidTransition):
        booking_confirm(booking_id=pending.pk)
    expired = hold(session, (ticket_type, 1))
    _expire(expired)
    booking_expire_stale()
    with pytest.raises(InvalidTransition):
        booking_cancel(booking_id=expired.pk)
    assert _seats(session) == 0


def test_expire_stale_marks_only_past_holds_and_audits_each(session, ticket_type):
    stale = [hold(session, (ticket_type, 1)) for _ in range(3)]
    fresh = hold(session, (ticket_type, 1))
    for booking in stale:
        _expire(booking)
    assert booking_expire_stale(batch_size=2) == 3
    assert booking_expire_stale() == 0
    statuses = dict(Booking.objects.values_list("pk", "status"))
    assert {statuses[b.pk] for b in stale} == {Booking.Status.EXPIRED}
    assert statuses[fresh.pk] == Booking.Status.PENDING
    assert set(
        AuditEntry.objects.filter(action="bookings.booking.expired").values_list(
            "object_id", flat=True
        )
    ) == {str(b.pk) for b in stale}


def test_expire_task_runs_the_service(session, ticket_type):
    from bookings.tasks import booking_expire_stale as task

    booking = hold(session, (ticket_type, 1))
    _expire(booking)
    assert task.apply().get() == 1
    booking.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
