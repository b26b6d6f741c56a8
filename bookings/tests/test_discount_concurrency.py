"""A discount code's usage limit under real concurrency, on PostgreSQL.

Fifty buyers, each on their own thread and connection and each buying a different
session (so the session lock serialises nothing), race for a code with ten uses.
The code's row lock is what keeps the count; the control test takes it away and
shows the same race giving the code out more than ten times.
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from bookings import discounts
from bookings.exceptions import DiscountCodeUsedUp, InventoryBusy
from bookings.models import Booking, DiscountCode
from bookings.services import BuyerInput
from bookings.services import holds as holds_module
from events.tests.factories import EventFactory, SessionFactory, TicketTypeFactory

from . import helpers

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 50
USES = 10


@pytest.fixture
def race():
    event = EventFactory()
    ticket_type = TicketTypeFactory(event=event, price_minor=2000)
    sessions = [SessionFactory(event=event, capacity=5) for _ in range(BUYERS)]
    code = DiscountCode.objects.create(
        organiser=event.organiser, code="RUSH", percent=50, max_uses=USES
    )
    return {"ticket_type": ticket_type, "sessions": sessions, "code": code}


def _slow_check(monkeypatch):
    """Widen the window between counting uses and writing the booking, as a busy
    database would: without the lock, this is where two buyers both see a use left."""
    check = discounts.discount_code_check_uses

    def slow(*args, **kwargs):
        check(*args, **kwargs)
        time.sleep(0.02)

    monkeypatch.setattr(holds_module, "discount_code_check_uses", slow)


def _buy_all(race):
    barrier = threading.Barrier(BUYERS)

    def buy(session):
        try:
            barrier.wait(timeout=10)
            return helpers.hold(
                session,
                (race["ticket_type"], 1),
                buyer=BuyerInput(
                    name="Buyer", email=f"b-{uuid.uuid4().hex[:10]}@example.org"
                ),
                discount_code="rush",
            )
        except (DiscountCodeUsedUp, InventoryBusy) as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        return list(pool.map(buy, race["sessions"]))


def test_fifty_buyers_use_a_ten_use_code_exactly_ten_times(race, monkeypatch):
    _slow_check(monkeypatch)
    results = _buy_all(race)
    made = [r for r in results if isinstance(r, Booking)]
    refused = [r for r in results if isinstance(r, DiscountCodeUsedUp)]
    assert (len(made), len(refused)) == (USES, BUYERS - USES)
    assert {error.message for error in refused} == {
        "This code has been used as many times as it may be."
    }
    assert Booking.objects.filter(discount_code=race["code"]).count() == USES
    assert Booking.objects.count() == USES  # a refused buyer holds nothing
    assert all(b.total_minor == 1000 for b in Booking.objects.all())


def test_control_without_the_code_lock_the_same_race_overuses_the_code(
    race, monkeypatch
):
    _slow_check(monkeypatch)
    monkeypatch.setattr(
        holds_module, "discount_code_for_update", discounts.discount_code_get
    )
    _buy_all(race)
    assert Booking.objects.filter(discount_code=race["code"]).count() > USES
