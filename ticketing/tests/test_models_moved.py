"""Models moved out of `bookings` and `events` (issue 17) keep their rows, and what
pointed at them (audit entries, admin log entries, permissions) still finds them.

The database is migrated back to just before the move, rows are written there with
the models as they were (app labels `bookings` and `events`), then it is migrated
forward: every table keeps its rows and every audit entry resolves to the moved
model's row.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from admission.models import BookingDocument, CheckIn
from bookings.models import Ticket
from bookings.tests.ticket_factories import TicketFactory
from notifications.models import Notification
from partner_api.models import (
    ApiIdempotencyRecord,
    ApiKey,
    PartnerWebhook,
    PartnerWebhookDelivery,
)
from ticketing.models import AuditEntry, OutboxMessage

# The last migrations before the move, and the apps the move created.
BEFORE_MOVE = [
    ("bookings", "0010_booking_tax_and_billing"),
    ("events", "0008_tax_rates_and_organiser_legal_details"),
    ("admission", None),
    ("notifications", None),
    ("partner_api", None),
]
# Old (app label, model) -> the model it is now.
MOVED = {
    ("bookings", "checkin"): CheckIn,
    ("bookings", "bookingdocument"): BookingDocument,
    ("bookings", "notification"): Notification,
    ("bookings", "apiidempotencyrecord"): ApiIdempotencyRecord,
    ("bookings", "partnerwebhook"): PartnerWebhook,
    ("bookings", "partnerwebhookdelivery"): PartnerWebhookDelivery,
    ("events", "apikey"): ApiKey,
}


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def _write_before_the_move(apps, ticket: Ticket) -> dict[tuple[str, str], int]:
    """One row of every moved model, written through the pre-move models, and an
    audit entry and an admin log entry for each; returns their ids."""
    model = apps.get_model
    booking_id, organiser_id = ticket.booking_id, ticket.organiser_id
    key = model("events", "ApiKey").objects.create(
        organiser_id=organiser_id, name="Box office", prefix="moved0000001",
        secret_hash="0" * 64, scopes=["read"],
    )
    webhook = model("bookings", "PartnerWebhook").objects.create(
        organiser_id=organiser_id, url="https://partner.example.com/hooks",
        events=["booking.confirmed"], secret_encrypted="x",
    )
    rows = {
        ("events", "apikey"): key,
        ("bookings", "checkin"): model("bookings", "CheckIn").objects.create(
            ticket_id=ticket.pk, action="check_in", actor_label="door"
        ),
        ("bookings", "bookingdocument"): model(
            "bookings", "BookingDocument"
        ).objects.create(booking_id=booking_id, pdf="tickets/k/REF.pdf"),
        ("bookings", "notification"): model("bookings", "Notification").objects.create(
            booking_id=booking_id, organiser_id=organiser_id, channel="email",
            template="confirmation", recipient="ada@example.org",
        ),
        ("bookings", "apiidempotencyrecord"): model(
            "bookings", "ApiIdempotencyRecord"
        ).objects.create(api_key=key, key="k-1", request_hash="f" * 64),
        ("bookings", "partnerwebhook"): webhook,
        ("bookings", "partnerwebhookdelivery"): model(
            "bookings", "PartnerWebhookDelivery"
        ).objects.create(webhook=webhook, event="booking.confirmed", payload={}),
    }
    content_type = model("contenttypes", "ContentType")
    user, _ = model("auth", "User").objects.get_or_create(username="mover")
    for (app_label, name), row in rows.items():
        kind, _ = content_type.objects.get_or_create(app_label=app_label, model=name)
        model("ticketing", "AuditEntry").objects.create(
            organiser_id=organiser_id, action=f"moved.{name}", content_type=kind,
            object_id=str(row.pk),
        )
        model("admin", "LogEntry").objects.create(
            content_type=kind, object_id=str(row.pk), object_repr=name,
            action_flag=1, user=user,
        )
    return {label: row.pk for label, row in rows.items()}


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        counts = {}
        for table in tables:
            if table == "django_migrations":
                continue
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def _migrated_forward_after():
    """Whatever happens, the database ends fully migrated for the tests after."""
    yield
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.usefixtures("_migrated_forward_after")
@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_kept_and_audit_entries_resolve():
    ticket = TicketFactory()
    executor = _migrate(BEFORE_MOVE)
    applied = list(executor.recorder.applied_migrations())
    old_apps = executor.loader.project_state(applied).apps
    ids = _write_before_the_move(old_apps, ticket)
    old_types = dict(
        ContentType.objects.filter(
            app_label__in=["bookings", "events"],
            model__in=[name for _, name in MOVED],
        ).values_list("model", "pk")
    )
    view_checkin = Permission.objects.get(codename="view_checkin")
    assert view_checkin.content_type.app_label == "bookings"
    before = _counts()

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    after = _counts()
    # The one table that grows: messages still to send get their outbox row
    # (notifications 0002, partner_api 0002).
    grown = after.pop("ticketing_outboxmessage") - before.pop(
        "ticketing_outboxmessage", 0
    )
    # Every table there before keeps its rows; tables of later migrations (discount
    # codes come after the move) start empty.
    assert {table: after[table] for table in before} == before
    assert not any(after[table] for table in after.keys() - before.keys())
    assert grown == OutboxMessage.objects.filter(
        kind__in=["notifications.send", "partner_api.webhook_delivery"]
    ).count()
    for (app_label, name), model in MOVED.items():
        entry = AuditEntry.objects.get(action=f"moved.{name}")
        row = entry.content_type.get_object_for_this_type(pk=entry.object_id)
        assert type(row) is model, (app_label, name)
        assert row.pk == ids[(app_label, name)]
        assert entry.content_type.pk == old_types[name]
        assert ContentType.objects.get_for_model(model).pk == old_types[name]
        log = LogEntry.objects.get(object_repr=name)
        assert type(log.get_edited_object()) is model
    view_checkin.refresh_from_db()
    assert view_checkin.content_type.app_label == "admission"
    assert not ContentType.objects.filter(app_label="bookings", model="checkin")


def test_moved_tasks_answer_to_their_old_names_and_beat_finds_them(settings):
    from ticketing.celery import app

    old_names = {
        "bookings.tickets.booking_document_render",
        "bookings.tickets.booking_document_delete",
        "bookings.notifications.tasks.notification_send",
        "bookings.notifications.tasks.notifications_retry_due",
        "bookings.notifications.tasks.hold_reminders_queue",
        "bookings.partner_webhooks.tasks.partner_webhook_deliver",
        "bookings.partner_webhooks.tasks.partner_webhooks_retry_due",
        "bookings.tasks.api_idempotency_purge",
    }
    app.loader.import_default_modules()

    assert old_names <= set(app.tasks)
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
