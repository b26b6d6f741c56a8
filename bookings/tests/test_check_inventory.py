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
    assert "counter 7, bookings say 3 (+4), not fixed" in out
    session.refresh_from_db()
    assert session.sold_count == 7

    call_command("check_inventory", "--fix")
    assert "fixed" in capsys.readouterr().out
    session.refresh_from_db()
    assert session.sold_count == 3
    entry = AuditEntry.objects.get(action="bookings.session.inventory_fixed")
    assert entry.data == {"before": 7, "after": 3}
