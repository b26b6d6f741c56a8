"""Dead outbox rows are kept and shown in the admin with their last error; a superuser
can make them due again."""

import pytest
from django.urls import reverse

from events.tests.factories import UserFactory
from ticketing.models import OutboxMessage
from ticketing.tests.factories import OutboxMessageFactory

Status = OutboxMessage.Status
CHANGELIST = reverse("admin:ticketing_outboxmessage_changelist")


@pytest.mark.django_db
def test_dead_rows_are_listed_with_their_last_error_and_can_be_retried(client):
    dead = OutboxMessageFactory(
        kind="notifications.email",
        status=Status.DEAD,
        attempts=10,
        last_error="SmsUnavailable: Twilio answered 503 (code 20500)",
    )
    OutboxMessageFactory(kind="notifications.email", status=Status.DONE)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    listed = client.get(CHANGELIST, {"status__exact": "dead"})
    assert listed.status_code == 200
    assert [row.pk for row in listed.context["cl"].result_list] == [dead.pk]
    assert "Twilio answered 503" in listed.content.decode()
    detail = client.get(reverse("admin:ticketing_outboxmessage_change", args=[dead.pk]))
    assert "SmsUnavailable: Twilio answered 503 (code 20500)" in detail.content.decode()

    response = client.post(
        CHANGELIST,
        {"action": "retry_now", "_selected_action": [dead.pk]},
        follow=True,
    )
    assert response.status_code == 200
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (Status.PENDING, 0)
