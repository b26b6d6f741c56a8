import pytest
from django.core.management import call_command

from bookings.services import booking_confirm
from events.models import Session
from ticketing.models import AuditEntry

from .helpers import hold

pytestmark = pytest.mark.django_db


def test_check_inventory_reports_and_fixes_drift(session, ticket_type, capsys):
    booking = hold(session, (ticket_type, 3))
    booking_confirm(booking_id=booking.pk)
    call_command("check_inventory")
    assert "No drift" in capsys.readouterr().out

    Session.objects.filter(pk=session.pk).update(sold_count=7)
    with pytest.raises(SystemExit):
        call_command("check_inventory")
    out = capsys.readouterr().out
    assert f"session {session.pk}" in out
    assert "sold_count 7, bookings say 3 (+4), not fixed" in out
    session.refresh_from_db()
    assert session.sold_count == 7

    call_command("check_inventory", "--fix")
    assert "fixed" in capsys.readouterr().out
    session.refresh_from_db()
    assert session.sold_count == 3
    entry = AuditEntry.objects.get(action="bookings.session.inventory_fixed")
    assert entry.data == {"before": 7, "after": 3}


def test_check_inventory_raises_a_held_ceiling_below_the_holds(
    session, ticket_type, capsys
):
    hold(session, (ticket_type, 4))
    call_command("check_inventory")
    assert "No drift" in capsys.readouterr().out

    # Only a disabled trigger could do this; sales would then trust too low a bound.
    Session.objects.filter(pk=session.pk).update(held_ceiling=1)
    with pytest.raises(SystemExit):
        call_command("check_inventory")
    assert "held_ceiling 1, bookings say 4 (-3), not fixed" in capsys.readouterr().out

    call_command("check_inventory", "--fix")
    assert "fixed" in capsys.readouterr().out
    session.refresh_from_db()
    assert session.held_ceiling == 4
    entry = AuditEntry.objects.get(action="bookings.session.held_ceiling_fixed")
    assert entry.data == {"before": 1, "after": 4}
